/* Borrowed sends (sack_tcp_send_borrowed): no copy, one completion per
 * accepted call, order kept with copied sends, completions before close,
 * through dispatch in queued mode, and the refusals. */
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* ---- completions ---- */

enum { MAX_DONE = 4096 };

static struct {
    int count;
    sack_tcp_result status[MAX_DONE];
    intptr_t tag[MAX_DONE];
    int closes_seen; /* the sender's close callbacks when the last one ran */
    recorder *sender;
    pthread_t thread; /* where the last one ran */
} done;

static void done_reset(recorder *sender) {
    harness_lock();
    memset(&done, 0, sizeof done);
    done.sender = sender;
    harness_unlock();
}

static void on_done(void *ud, sack_tcp *s, sack_tcp_result status) {
    (void)s;
    harness_lock();
    if (done.count < MAX_DONE) {
        done.status[done.count] = status;
        done.tag[done.count] = (intptr_t)ud;
    }
    done.count++;
    done.closes_seen = done.sender ? done.sender->closes : 0;
    done.thread = pthread_self();
    harness_unlock();
}

/* A pattern no two nearby offsets share, so a misplaced piece shows. */
static unsigned char *pattern(size_t n) {
    unsigned char *p = malloc(n);
    CHECK(p != NULL);
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (unsigned char)x;
    }
    return p;
}

/* ---- a raw reader on its own thread, started on a signal ---- */

typedef struct reader {
    int listen_fd, fd;
    uint16_t port;
    bool go;           /* start reading (a reader that waits keeps bytes queued) */
    bool finished;
    size_t total;
    uint32_t crc;
    pthread_t thread;
} reader;

static void *reader_main(void *arg) {
    reader *r = arg;
    r->fd = raw_accept(r->listen_fd, WAIT_MS);
    harness_lock();
    while (!r->go)
        if (!harness_wait(harness_now_ms() + WAIT_MS)) break;
    harness_unlock();
    uint32_t crc = 0;
    size_t total = raw_read_to_eof(r->fd, NULL, 0, &crc, 4 * WAIT_MS);
    harness_lock();
    r->total = total;
    r->crc = crc;
    r->finished = true;
    harness_unlock();
    return NULL;
}

static void reader_start(reader *r, bool go) {
    memset(r, 0, sizeof *r);
    r->go = go;
    r->listen_fd = raw_listen("127.0.0.1", &r->port, 4);
    CHECK(pthread_create(&r->thread, NULL, reader_main, r) == 0);
}

static void reader_go(reader *r) {
    harness_lock();
    r->go = true;
    harness_unlock();
}

static void reader_join(reader *r) {
    WAIT_UNTIL_MS(r->finished, 4 * WAIT_MS);
    CHECK(pthread_join(r->thread, NULL) == 0);
    close(r->fd);
    close(r->listen_fd);
}

static sack_tcp *connect_to(recorder *cli, uint16_t port, sack_tcp_options *o) {
    sack_tcp *c = client_open(cli, "127.0.0.1", port, o);
    WAIT_UNTIL(cli->connects == 1);
    CHECK_EQ(cli->connect_status, SACK_TCP_OK);
    return c;
}

/* 64 MiB, four times the default send_queue_limit, lent while the reader
 * holds back: accepted, queued without a copy, and counted, so copied
 * sends are refused until drain. The completion comes once, with OK, only
 * when the kernel has it all: the buffer is overwritten then, and the
 * reader still gets the original. */
TEST(borrowed_64mib_arrives_intact_and_drain_still_fires) {
    enum { BIG = 64 << 20 };
    unsigned char *buf = pattern(BIG);
    uint32_t want = crc32_update(0, buf, BIG);
    want = crc32_update(want, "tail", 4);
    reader rd;
    reader_start(&rd, false);
    recorder cli;
    recorder_init(&cli);
    done_reset(&cli);
    sack_tcp *c = connect_to(&cli, rd.port, NULL);
    CHECK_OK(sack_tcp_send_borrowed(c, buf, BIG, on_done, (void *)7));
    size_t queued = 0;
    CHECK_OK(sack_tcp_get_queued_bytes(c, &queued));
    CHECK(queued > 16 << 20); /* no kernel buffer holds 48 MiB */
    CHECK_RESULT(sack_tcp_send(c, "x", 1), SACK_TCP_ERR_QUEUE_FULL);
    CHECK_RESULT(sack_tcp_send_borrowed(c, "y", 1, on_done, (void *)8),
                 SACK_TCP_ERR_QUEUE_FULL);
    harness_lock();
    CHECK_EQ(done.count, 0);
    harness_unlock();
    reader_go(&rd);
    WAIT_UNTIL(done.count == 1 && cli.drains == 1);
    CHECK_EQ(done.status[0], SACK_TCP_OK);
    CHECK_EQ(done.tag[0], 7);
    memset(buf, 0xEE, BIG); /* the library must not read it any more */
    CHECK_OK(sack_tcp_send(c, "tail", 4));
    CHECK_OK(sack_tcp_close(c));
    reader_join(&rd);
    WAIT_UNTIL(cli.closes == 1);
    CHECK_EQ(rd.total, (size_t)BIG + 4);
    CHECK_EQ(rd.crc, want);
    CHECK_EQ(done.count, 1);
    CHECK_EQ(cli.errors, 0);
    sack_tcp_free(c);
    recorder_destroy(&cli);
    free(buf);
}

/* Copied and borrowed sends of every size, interleaved: the reader gets
 * the pattern in order, and the completions come in call order. */
TEST(borrowed_and_copied_sends_keep_their_order) {
    enum { TOTAL = 24 << 20 };
    unsigned char *buf = pattern(TOTAL);
    uint32_t want = crc32_update(0, buf, TOTAL);
    reader rd;
    reader_start(&rd, true);
    recorder cli;
    recorder_init(&cli);
    done_reset(&cli);
    sack_tcp_options o;
    CHECK_OK(sack_tcp_options_init(&o));
    o.send_queue_limit = 256 << 20;
    sack_tcp *c = connect_to(&cli, rd.port, &o);
    size_t off = 0;
    int lent = 0;
    uint32_t x = 12345;
    for (int i = 0; off < TOTAL; i++) {
        x = x * 1103515245u + 12345u;
        size_t len = (i % 4 == 3) ? (x >> 8) % (1 << 20) : (x >> 8) % 3000;
        if (len > TOTAL - off) len = TOTAL - off;
        if (i % 2)
            CHECK_OK(sack_tcp_send_borrowed(c, buf + off, len, on_done, (void *)(intptr_t)lent++));
        else
            CHECK_OK(sack_tcp_send(c, buf + off, len));
        off += len;
    }
    CHECK(lent < MAX_DONE);
    WAIT_UNTIL(done.count == lent);
    for (int i = 0; i < lent; i++) {
        CHECK_EQ(done.status[i], SACK_TCP_OK);
        CHECK_EQ(done.tag[i], i);
    }
    CHECK_OK(sack_tcp_close(c));
    reader_join(&rd);
    WAIT_UNTIL(cli.closes == 1);
    CHECK_EQ(rd.total, (size_t)TOTAL);
    CHECK_EQ(rd.crc, want);
    sack_tcp_free(c);
    recorder_destroy(&cli);
    free(buf);
}

/* TLS: sent during the handshake and after it, borrowed and copied, in
 * order; each completion comes once with OK. */
TEST(borrowed_sends_over_tls) {
    tls_files f = tls_files_load();
    sack_tcp_options so, co;
    CHECK_OK(sack_tcp_options_init(&so));
    so.cert = f.cert;
    so.key = f.key;
    server srv;
    server_start(&srv, "127.0.0.1", &so);
    CHECK_OK(sack_tcp_options_init(&co));
    co.ssl = true;
    co.ca = f.ca;
    enum { N = 3 << 20 };
    unsigned char *buf = pattern(N);
    recorder cli;
    recorder_init(&cli);
    done_reset(&cli);
    sack_tcp *c = client_open(&cli, "127.0.0.1", srv.port, &co);
    size_t third = N / 3;
    CHECK_OK(sack_tcp_send_borrowed(c, buf, third, on_done, (void *)0)); /* before ready */
    WAIT_UNTIL(cli.readies == 1);
    CHECK_OK(sack_tcp_send(c, buf + third, third));
    CHECK_OK(sack_tcp_send_borrowed(c, buf + 2 * third, N - 2 * third, on_done, (void *)1));
    WAIT_UNTIL(done.count == 2);
    CHECK_EQ(done.status[0], SACK_TCP_OK);
    CHECK_EQ(done.status[1], SACK_TCP_OK);
    CHECK_EQ(done.tag[1], 1);
    WAIT_UNTIL(srv.n_conns == 1 && srv.conns[0].data_len == N);
    CHECK(memcmp(srv.conns[0].data, buf, N) == 0);
    CHECK_OK(sack_tcp_close(c));
    WAIT_UNTIL(cli.closes == 1 && srv.conns[0].closes == 1);
    CHECK_EQ(cli.errors, 0);
    CHECK_EQ(done.count, 2);
    sack_tcp_free(c);
    server_stop(&srv);
    server_destroy(&srv);
    recorder_destroy(&cli);
    free(buf);
    tls_files_free(&f);
}

/* A peer that never reads keeps the bytes queued; the connection then
 * ends (the host aborts, or the peer resets): the completion comes once,
 * CANCELED, before the close callback. */
TEST(borrowed_send_canceled_when_the_connection_ends_first) {
    enum { BIG = 32 << 20 };
    unsigned char *buf = pattern(BIG);
    for (int peer_resets = 0; peer_resets < 2; peer_resets++) {
        uint16_t port = 0;
        int lfd = raw_listen("127.0.0.1", &port, 4);
        recorder cli;
        recorder_init(&cli);
        done_reset(&cli);
        sack_tcp_options o;
        CHECK_OK(sack_tcp_options_init(&o));
        o.send_queue_limit = 256 << 20;
        sack_tcp *c = connect_to(&cli, port, &o);
        int peer = raw_accept(lfd, WAIT_MS);
        CHECK_OK(sack_tcp_send_borrowed(c, buf, BIG, on_done, (void *)1));
        CHECK_OK(sack_tcp_send(c, "between", 7));
        CHECK_OK(sack_tcp_send_borrowed(c, buf, 1000, on_done, (void *)2));
        if (peer_resets)
            raw_reset(peer);
        else
            CHECK_OK(sack_tcp_abort(c));
        WAIT_UNTIL(cli.closes == 1);
        CHECK_EQ(done.count, 2);
        CHECK_EQ(done.status[0], SACK_TCP_ERR_CANCELED);
        CHECK_EQ(done.status[1], SACK_TCP_ERR_CANCELED);
        CHECK_EQ(done.tag[0], 1);
        CHECK_EQ(done.tag[1], 2);
        CHECK_EQ(done.closes_seen, 0);
        if (peer_resets) CHECK_EQ(cli.errors, 1);
        if (!peer_resets) close(peer);
        close(lfd);
        sack_tcp_free(c);
        recorder_destroy(&cli);
    }
    free(buf);
}

/* Refusals return their code and owe no completion; an empty send is
 * accepted and completes. */
TEST(borrowed_send_refuses_bad_handles) {
    static const char text[] = "static data";
    done_reset(NULL);
    CHECK_RESULT(sack_tcp_send_borrowed(NULL, text, 4, on_done, NULL), SACK_TCP_ERR_NULL_POINTER);
    server srv;
    server_start(&srv, "127.0.0.1", NULL);
    CHECK_RESULT(sack_tcp_send_borrowed(srv.listener, text, 4, on_done, NULL),
                 SACK_TCP_ERR_NOT_APPLICABLE);
    recorder cli;
    recorder_init(&cli);
    sack_tcp *c = connect_to(&cli, srv.port, NULL);
    CHECK_RESULT(sack_tcp_send_borrowed(c, NULL, 4, on_done, NULL), SACK_TCP_ERR_NULL_POINTER);
    CHECK_OK(sack_tcp_send_borrowed(c, NULL, 0, on_done, (void *)5));
    CHECK_OK(sack_tcp_send_borrowed(c, text, 4, NULL, NULL)); /* nobody to tell */
    WAIT_UNTIL(done.count == 1);
    CHECK_EQ(done.status[0], SACK_TCP_OK);
    CHECK_EQ(done.tag[0], 5);
    WAIT_UNTIL(srv.n_conns == 1 && srv.conns[0].data_len == 4);
    CHECK_OK(sack_tcp_close(c));
    CHECK_RESULT(sack_tcp_send_borrowed(c, text, 4, on_done, NULL), SACK_TCP_ERR_CLOSED);
    WAIT_UNTIL(cli.closes == 1 && srv.conns[0].closes == 1);
    CHECK_RESULT(sack_tcp_send_borrowed(c, text, 4, on_done, NULL), SACK_TCP_ERR_CLOSED);
    server_stop(&srv);
    CHECK_EQ(done.count, 1);
    sack_tcp_free(c);
    server_destroy(&srv);
    recorder_destroy(&cli);
}

/* Queued delivery: the completion waits for sack_tcp_dispatch and runs on
 * the dispatching thread, even when the kernel took every byte at once. */
TEST(borrowed_completion_in_queued_mode_comes_through_dispatch) {
    sack_tcp_runtime_options ro;
    CHECK_OK(sack_tcp_runtime_options_init(&ro));
    ro.delivery_mode = SACK_TCP_DELIVERY_QUEUED;
    CHECK_OK(sack_tcp_runtime_start(&ro));
    int event_fd = -1;
    CHECK_OK(sack_tcp_get_event_fd(&event_fd));
    reader rd;
    reader_start(&rd, true);
    recorder cli;
    recorder_init(&cli);
    done_reset(&cli);
    sack_tcp *c = client_open(&cli, "127.0.0.1", rd.port, NULL);
    long long dl = harness_now_ms() + WAIT_MS;
    size_t n = 0;
    while (cli.connects == 0) {
        struct pollfd p = {.fd = event_fd, .events = POLLIN};
        CHECK(harness_now_ms() < dl);
        poll(&p, 1, 100);
        CHECK_OK(sack_tcp_dispatch(64, &n));
    }
    static const char small[] = "fits the socket buffer";
    CHECK_OK(sack_tcp_send_borrowed(c, small, sizeof small, on_done, (void *)3));
    unsigned char *big = pattern(1 << 20);
    CHECK_OK(sack_tcp_send_borrowed(c, big, 1 << 20, on_done, (void *)4));
    harness_lock();
    CHECK_EQ(done.count, 0); /* nobody dispatched */
    harness_unlock();
    while (done.count < 2) {
        struct pollfd p = {.fd = event_fd, .events = POLLIN};
        CHECK(harness_now_ms() < dl);
        poll(&p, 1, 100);
        CHECK_OK(sack_tcp_dispatch(64, &n));
    }
    CHECK(pthread_equal(done.thread, pthread_self()));
    CHECK_EQ(done.tag[0], 3);
    CHECK_EQ(done.tag[1], 4);
    CHECK_EQ(done.status[1], SACK_TCP_OK);
    CHECK_OK(sack_tcp_close(c));
    reader_join(&rd); /* the reader's FIN lets the close finish */
    CHECK_EQ(rd.total, sizeof small + (1 << 20));
    while (cli.closes == 0) {
        struct pollfd p = {.fd = event_fd, .events = POLLIN};
        CHECK(harness_now_ms() < dl + WAIT_MS);
        poll(&p, 1, 100);
        CHECK_OK(sack_tcp_dispatch(64, &n));
    }
    sack_tcp_free(c);
    recorder_destroy(&cli);
    free(big);
}

/* ---- before TLS is decided: fallback detection and STARTTLS ---- */

static const char greeting[] = "220 borrowed greeting\r\n";

/* The harness's accept, then a borrowed greeting from the connect
 * callback: on a fallback listener, before the first bytes decide TLS. */
static void greet_on_connect(void *ud, sack_tcp *conn, sack_tcp_result status) {
    server_on_connect(ud, conn, status);
    CHECK_OK(sack_tcp_send_borrowed(conn, greeting, sizeof greeting - 1, on_done, (void *)7));
}

/* A borrowed send made before fallback detection waits, and leaves
 * encrypted for a TLS client, in clear for a plain one; either way it
 * completes once, OK. */
TEST(borrowed_send_before_fallback_detection) {
    tls_files f = tls_files_load();
    sack_tcp_options so;
    CHECK_OK(sack_tcp_options_init(&so));
    so.cert = f.cert;
    so.key = f.key;
    so.allow_ssl_fallback = true;
    server srv;
    server_start(&srv, "127.0.0.1", &so);
    CHECK_OK(sack_tcp_on_connect(srv.listener, greet_on_connect));
    size_t n = sizeof greeting - 1;

    for (int tls = 1; tls >= 0; tls--) {
        sack_tcp_options co;
        CHECK_OK(sack_tcp_options_init(&co));
        co.ssl = tls;
        co.ca = tls ? f.ca : NULL;
        recorder cli;
        recorder_init(&cli);
        done_reset(NULL);
        int index = srv.n_conns;
        sack_tcp *c = client_open(&cli, "127.0.0.1", srv.port, &co);
        if (!tls) CHECK_OK(sack_tcp_send(c, "hi", 2)); /* a plain first byte decides */
        WAIT_UNTIL(cli.data_len == n && done.count == 1);
        CHECK(memcmp(cli.data, greeting, n) == 0);
        CHECK_EQ(done.status[0], SACK_TCP_OK);
        CHECK_EQ(done.tag[0], 7);
        bool secure = !tls;
        CHECK_OK(sack_tcp_get_ssl(c, &secure));
        CHECK_EQ(secure, (bool)tls);
        CHECK_OK(sack_tcp_close(c));
        WAIT_UNTIL(cli.closes == 1 && srv.n_conns == index + 1 && srv.conns[index].closes == 1);
        CHECK_EQ(cli.errors, 0);
        CHECK_EQ(done.count, 1);
        sack_tcp_free(c);
        recorder_destroy(&cli);
    }
    server_stop(&srv);
    server_destroy(&srv);
    tls_files_free(&f);
}

/* A client's borrowed send before its STARTTLS upgrade leaves in clear,
 * ahead of the handshake; one after it, encrypted; both in order. */
TEST(borrowed_send_around_starttls) {
    tls_files f = tls_files_load();
    sack_tcp_options so;
    CHECK_OK(sack_tcp_options_init(&so));
    so.cert = f.cert;
    so.key = f.key;
    so.starttls = true;
    server srv;
    server_start(&srv, "127.0.0.1", &so);
    sack_tcp_options co;
    CHECK_OK(sack_tcp_options_init(&co));
    co.ca = f.ca;
    co.host = "localhost";
    recorder cli;
    recorder_init(&cli);
    done_reset(&cli);
    sack_tcp *c = client_open(&cli, "127.0.0.1", srv.port, &co);
    WAIT_UNTIL(cli.readies == 1 && srv.n_conns == 1 && srv.conns[0].readies == 1);
    static const char plain[] = "clear-before\n", secret[] = "encrypted-after\n";
    CHECK_OK(sack_tcp_send_borrowed(c, plain, sizeof plain - 1, on_done, (void *)1));
    WAIT_UNTIL(srv.conns[0].data_len == sizeof plain - 1 && done.count == 1);
    CHECK_OK(sack_tcp_set_ssl(srv.conns[0].sock, true));
    CHECK_OK(sack_tcp_set_ssl(c, true));
    WAIT_UNTIL(cli.readies == 2 && srv.conns[0].readies == 2);
    CHECK_OK(sack_tcp_send_borrowed(c, secret, sizeof secret - 1, on_done, (void *)2));
    size_t total = sizeof plain - 1 + sizeof secret - 1;
    WAIT_UNTIL(srv.conns[0].data_len == total && done.count == 2);
    CHECK(memcmp(srv.conns[0].data, plain, sizeof plain - 1) == 0);
    CHECK(memcmp(srv.conns[0].data + sizeof plain - 1, secret, sizeof secret - 1) == 0);
    CHECK_EQ(done.status[0], SACK_TCP_OK);
    CHECK_EQ(done.status[1], SACK_TCP_OK);
    CHECK_EQ(done.tag[1], 2);
    CHECK_OK(sack_tcp_close(c));
    WAIT_UNTIL(cli.closes == 1 && srv.conns[0].closes == 1);
    CHECK_EQ(cli.errors, 0);
    sack_tcp_free(c);
    recorder_destroy(&cli);
    server_stop(&srv);
    server_destroy(&srv);
    tls_files_free(&f);
}

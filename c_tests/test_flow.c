/* A guest in the host's process: no signals (SIGPIPE stays at the host's
 * disposition), drain on every path, addresses that outlive the
 * connection, read flow control (pause/resume and pause-on-full),
 * half-close, and bounded queued delivery. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* ---- connection modes: every write path of the library ---- */

typedef enum mode { M_PLAIN, M_TLS, M_FALLBACK_TLS, M_FALLBACK_PLAIN, M_STARTTLS, M_COUNT } mode;
static const char *const mode_names[M_COUNT] = {"plain", "tls", "fallback-tls", "fallback-plain",
                                                "starttls"};

/* Server and client options for `m`. */
static void mode_options(mode m, const tls_files *f, sack_tcp_options *srv, sack_tcp_options *cli) {
    CHECK_OK(sack_tcp_options_init(srv));
    CHECK_OK(sack_tcp_options_init(cli));
    if (m == M_PLAIN) return;
    srv->cert = f->cert;
    srv->key = f->key;
    cli->ca = f->ca;
    switch (m) {
    case M_TLS: cli->ssl = true; break;
    case M_FALLBACK_TLS:
        srv->allow_ssl_fallback = true;
        cli->ssl = true;
        break;
    case M_FALLBACK_PLAIN: srv->allow_ssl_fallback = true; break;
    case M_STARTTLS: srv->starttls = true; break;
    default: break;
    }
}

/* The ready that means "send now": the second one after a STARTTLS
 * upgrade, which both sides start from their first (plain) ready. */
static bool final_ready(mode m, sack_tcp *s, recorder *r) {
    harness_lock();
    int n = r->readies;
    harness_unlock();
    if (m == M_STARTTLS && n == 1) {
        CHECK_OK(sack_tcp_set_ssl(s, true));
        return false;
    }
    return true;
}

/* ---- no SIGPIPE: a peer resets while we write ---- */

static struct {
    mode mode;
    recorder *client;
    bool client_writes;
} sp;

static bool sp_writer(const recorder *r) { return (r == sp.client) == sp.client_writes; }

/* Fills the send queue well past the socket buffers, so the task keeps
 * writing after the peer's reset; refusals are expected. */
static void sp_blast(sack_tcp *s) {
    static unsigned char chunk[64 * 1024];
    for (int i = 0; i < 32; i++)
        if (sack_tcp_send(s, chunk, sizeof chunk) != SACK_TCP_OK) break;
}

static void sp_on_ready(void *ud, sack_tcp *s) {
    recorder *r = ud;
    rec_on_ready(ud, s);
    if (!final_ready(sp.mode, s, r)) return;
    /* A fallback server decides from the client's first bytes. */
    if (r == sp.client) (void)sack_tcp_send(s, "hello", 5);
    if (sp_writer(r)) sp_blast(s);
}

static void sp_on_message(void *ud, sack_tcp *s, const uint8_t *data, size_t len) {
    rec_on_message(ud, s, data, len);
    if (sp_writer(ud))
        (void)sack_tcp_send(s, data, len); /* an inline write, racing the reset */
    else
        (void)sack_tcp_abort(s); /* SO_LINGER 0: the writer gets a reset */
}

static void sp_on_drain(void *ud, sack_tcp *s) {
    rec_on_drain(ud, s);
    if (sp_writer(ud)) sp_blast(s);
}

static void sp_set_callbacks(sack_tcp_options *o);

/* A client to 127.0.0.1:port with the recorder's callbacks, some replaced
 * by `customise` before the open (so none can fire before they are set). */
static sack_tcp *open_with(recorder *r, uint16_t port, const sack_tcp_options *base,
                           void (*customise)(sack_tcp_options *)) {
    sack_tcp_options o = *base;
    recorder_options(r, &o);
    if (customise) customise(&o);
    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%u", (unsigned)port);
    o.to_address = target;
    sack_tcp *c = NULL;
    CHECK_OK(sack_tcp_open(&o, &c));
    return c;
}

static void sp_set_callbacks(sack_tcp_options *o) {
    o->on_ready = sp_on_ready;
    o->on_message = sp_on_message;
    o->on_drain = sp_on_drain;
}

TEST(no_sigpipe_when_peers_reset_mid_transfer) {
    /* The harness, like a host, leaves SIGPIPE alone: a write that raised
     * it would kill this process. */
    struct sigaction current;
    CHECK(sigaction(SIGPIPE, NULL, &current) == 0);
    CHECK(current.sa_handler == SIG_DFL);
    tls_files f = tls_files_load();
    for (int m = 0; m < M_COUNT; m++) {
        for (int client_writes = 0; client_writes < 2; client_writes++) {
            for (int round = 0; round < 4; round++) {
                sack_tcp_options so, co;
                mode_options((mode)m, &f, &so, &co);
                server srv;
                server_start(&srv, "127.0.0.1", &so);
                recorder cli;
                recorder_init(&cli);
                sp.mode = (mode)m;
                sp.client = &cli;
                sp.client_writes = client_writes;
                CHECK_OK(sack_tcp_on_ready(srv.listener, sp_on_ready));
                CHECK_OK(sack_tcp_on_message(srv.listener, sp_on_message));
                CHECK_OK(sack_tcp_on_drain(srv.listener, sp_on_drain));
                sack_tcp *c = open_with(&cli, srv.port, &co, sp_set_callbacks);
                WAIT_UNTIL(cli.closes == 1 && srv.n_conns == 1 && srv.conns[0].closes == 1);
                recorder *writer = client_writes ? &cli : &srv.conns[0];
                recorder *resetter = client_writes ? &srv.conns[0] : &cli;
                if (writer->errors != 1 || writer->error_code != SACK_TCP_ERR_RESET)
                    FAIL("%s, %s writes, round %d: writer saw %d errors, last %s (log %s)",
                         mode_names[m], client_writes ? "client" : "server", round, writer->errors,
                         sack_tcp_error_name(writer->error_code), writer->log);
                CHECK_EQ(resetter->errors, 0);
                sack_tcp_free(c);
                server_stop(&srv);
                server_destroy(&srv);
                recorder_destroy(&cli);
            }
        }
    }
    tls_files_free(&f);
}

/* ---- drain after QUEUE_FULL, on every path that empties the queue ---- */

enum { DS_LIMIT = 64 * 1024, DS_SEND = 40000 };

static struct {
    sack_tcp_result first, second;
    bool sent;
} ds;

/* Two sends of 40,000 bytes against a 64 KiB limit: the second is refused
 * and arms drain, which must then fire once the queue empties. */
static void ds_send_twice(sack_tcp *s) {
    static unsigned char buf[DS_SEND];
    sack_tcp_result a = sack_tcp_send(s, buf, sizeof buf);
    sack_tcp_result b = sack_tcp_send(s, buf, sizeof buf);
    harness_lock();
    ds.first = a;
    ds.second = b;
    ds.sent = true;
    harness_unlock();
}

static void ds_reset(void) {
    harness_lock();
    memset(&ds, 0, sizeof ds);
    harness_unlock();
}

/* STARTTLS: both sides upgrade at their first ready; the client sends
 * during the upgrade's handshake. */
static void ds_starttls_ready(void *ud, sack_tcp *s) {
    rec_on_ready(ud, s);
    harness_lock();
    int n = ((recorder *)ud)->readies;
    harness_unlock();
    if (n == 1) CHECK_OK(sack_tcp_set_ssl(s, true));
}

static void ds_client_starttls_ready(void *ud, sack_tcp *s) {
    ds_starttls_ready(ud, s);
    harness_lock();
    int n = ((recorder *)ud)->readies;
    harness_unlock();
    if (n == 1) ds_send_twice(s); /* after set_ssl: during the handshake */
}

static void ds_set_starttls_client(sack_tcp_options *o) { o->on_ready = ds_client_starttls_ready; }

/* The connect callback runs before the connection's task reads anything,
 * so a TLS handshake cannot have ended yet, however late this thread runs. */
static void ds_connect_sends(void *ud, sack_tcp *s, sack_tcp_result st) {
    rec_on_connect(ud, s, st);
    ds_send_twice(s);
}

static void ds_set_connect_sends(sack_tcp_options *o) { o->on_connect = ds_connect_sends; }

/* Server side: a message callback that sends twice (TLS holds both sends'
 * records until the callback returns). */
static void ds_message_sends(void *ud, sack_tcp *s, const uint8_t *d, size_t n) {
    rec_on_message(ud, s, d, n);
    harness_lock();
    bool sent = ds.sent;
    harness_unlock();
    if (!sent) ds_send_twice(s);
}

/* Server side, fallback: sends twice from the connect callback, before the
 * server has decided between TLS and plain. */
static void ds_accept_sends(void *ud, sack_tcp *conn, sack_tcp_result st) {
    server_on_connect(ud, conn, st);
    ds_send_twice(conn);
}

static void ds_check(int path, recorder *sender, recorder *receiver) {
    WAIT_UNTIL(ds.sent);
    if (ds.first != SACK_TCP_OK || ds.second != SACK_TCP_ERR_QUEUE_FULL)
        FAIL("path %d: the sends returned %s and %s", path, sack_tcp_error_name(ds.first),
             sack_tcp_error_name(ds.second));
    WAIT_UNTIL(receiver->data_len >= DS_SEND);
    WAIT_UNTIL(sender->drains == 1);
    CHECK_EQ(receiver->data_len, DS_SEND);
}

TEST(drain_after_queue_full_on_every_path) {
    tls_files f = tls_files_load();
    for (int path = 0; path < 5; path++) {
        ds_reset();
        sack_tcp_options so, co;
        mode m = path == 0 || path == 1 ? M_TLS : path == 2 ? M_STARTTLS : M_FALLBACK_PLAIN;
        if (path == 4) m = M_FALLBACK_TLS;
        mode_options(m, &f, &so, &co);
        co.send_queue_limit = DS_LIMIT;
        so.send_queue_limit = DS_LIMIT;
        server srv;
        server_start(&srv, "127.0.0.1", &so);
        recorder cli;
        recorder_init(&cli);
        sack_tcp *c = NULL;
        recorder *sender = NULL, *receiver = NULL;
        switch (path) {
        case 0: /* TLS client, both sends before the handshake ends */
            c = open_with(&cli, srv.port, &co, ds_set_connect_sends);
            WAIT_UNTIL(srv.n_conns == 1);
            sender = &cli;
            receiver = &srv.conns[0];
            break;
        case 1: /* TLS server, both sends inside a message callback */
            CHECK_OK(sack_tcp_on_message(srv.listener, ds_message_sends));
            c = open_with(&cli, srv.port, &co, NULL);
            WAIT_UNTIL(cli.readies == 1);
            CHECK_OK(sack_tcp_send(c, "go", 2));
            WAIT_UNTIL(srv.n_conns == 1);
            sender = &srv.conns[0];
            receiver = &cli;
            break;
        case 2: /* STARTTLS client, both sends during the upgrade */
            CHECK_OK(sack_tcp_on_ready(srv.listener, ds_starttls_ready));
            c = open_with(&cli, srv.port, &co, ds_set_starttls_client);
            WAIT_UNTIL(srv.n_conns == 1);
            sender = &cli;
            receiver = &srv.conns[0];
            break;
        case 3: /* fallback served as plain: sends before the decision */
        case 4: /* fallback served as TLS */
            CHECK_OK(sack_tcp_on_connect(srv.listener, ds_accept_sends));
            c = open_with(&cli, srv.port, &co, NULL);
            if (path == 3) CHECK_OK(sack_tcp_send(c, "plain first", 11));
            WAIT_UNTIL(srv.n_conns == 1);
            sender = &srv.conns[0];
            receiver = &cli;
            break;
        }
        ds_check(path, sender, receiver);
        CHECK_OK(sack_tcp_close(c));
        WAIT_UNTIL(cli.closes == 1 && srv.conns[0].closes == 1);
        CHECK_EQ(cli.errors, 0);
        CHECK_EQ(srv.conns[0].errors, 0);
        sack_tcp_free(c);
        server_stop(&srv);
        server_destroy(&srv);
        recorder_destroy(&cli);
    }
    tls_files_free(&f);
}

/* ---- pause and resume ---- */

/* Non-blocking sends of a counting pattern until the kernel refuses more;
 * returns the new total. */
static size_t fill_until_eagain(int fd, size_t sent, size_t limit) {
    unsigned char buf[16384];
    while (sent < limit) {
        size_t n = limit - sent < sizeof buf ? limit - sent : sizeof buf;
        for (size_t i = 0; i < n; i++) buf[i] = (unsigned char)((sent + i) * 7);
        ssize_t k = send(fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (k < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            if (errno == EINTR) continue;
            FAIL("send: %s", strerror(errno));
        }
        sent += (size_t)k;
    }
    return sent;
}

static bool pause_in_message;

static void pause_accept(void *ud, sack_tcp *conn, sack_tcp_result st) {
    server_on_connect(ud, conn, st);
    if (!pause_in_message) CHECK_OK(sack_tcp_pause(conn)); /* before any read */
}

static void pause_message(void *ud, sack_tcp *s, const uint8_t *d, size_t n) {
    rec_on_message(ud, s, d, n);
    if (pause_in_message) CHECK_OK(sack_tcp_pause(s)); /* from inside the callback */
}

/* While paused nothing is delivered and the window closes on the peer; on
 * resume the held bytes come first and every byte arrives in order. */
TEST(pause_stops_reading_and_resume_delivers_in_order) {
    for (int in_message = 0; in_message < 2; in_message++) {
        pause_in_message = in_message;
        server srv;
        server_start(&srv, "127.0.0.1", NULL);
        CHECK_OK(sack_tcp_on_connect(srv.listener, pause_accept));
        CHECK_OK(sack_tcp_on_message(srv.listener, pause_message));
        int fd = raw_connect("127.0.0.1", srv.port);
        WAIT_UNTIL(srv.n_conns == 1);
        recorder *conn = &srv.conns[0];
        const size_t total = 32u << 20;
        size_t sent = 0;
        if (in_message) {
            sent = fill_until_eagain(fd, 0, 1);
            WAIT_UNTIL(conn->messages == 1);
        }
        /* The kernel refuses more only once the paused side stopped reading:
         * megabytes sit unread while no message callback fires. */
        sent = fill_until_eagain(fd, sent, total);
        CHECK(sent >= (1u << 20) && sent < total);
        harness_lock();
        int messages = conn->messages;
        harness_unlock();
        CHECK_EQ(messages, in_message ? 1 : 0);
        CHECK_OK(sack_tcp_pause(conn->sock)); /* twice is once */
        pause_in_message = false;
        CHECK_OK(sack_tcp_resume(conn->sock));
        CHECK_OK(sack_tcp_resume(conn->sock)); /* not paused: nothing to do */
        while (sent < total) {
            sent = fill_until_eagain(fd, sent, total);
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            CHECK(poll(&p, 1, WAIT_MS) == 1);
        }
        WAIT_UNTIL(conn->data_len == total);
        for (size_t i = 0; i < total; i++)
            if (conn->data[i] != (unsigned char)(i * 7)) FAIL("byte %zu differs after resume", i);
        raw_reset(fd);
        WAIT_UNTIL(conn->closes == 1);
        server_stop(&srv);
        server_destroy(&srv);
    }
}

/* ---- half-close ---- */

static void end_rec(void *ud, sack_tcp *s) {
    recorder *r = ud;
    harness_lock();
    if (r->log_len + 1 < sizeof r->log) r->log[r->log_len++] = 'N';
    harness_unlock();
    (void)s;
}

/* A peer that shuts its write side gets its answer later, from another
 * thread, when the server allows half-open connections; by default the
 * FIN closes the connection at once. Both directions, against raw
 * sockets that shutdown(SHUT_WR). */
TEST(half_close_both_ways) {
    /* Server side, allow_half_open: answer after the peer's FIN. */
    sack_tcp_options o;
    CHECK_OK(sack_tcp_options_init(&o));
    o.allow_half_open = true;
    o.on_end = end_rec;
    server srv;
    server_start(&srv, "127.0.0.1", &o);
    int fd = raw_connect("127.0.0.1", srv.port);
    raw_write_all(fd, "question", 8);
    CHECK(shutdown(fd, SHUT_WR) == 0);
    WAIT_UNTIL(srv.n_conns == 1 && strchr(srv.conns[0].log, 'N') != NULL);
    recorder *conn = &srv.conns[0];
    CHECK_EQ(conn->data_len, 8);
    CHECK_EQ(conn->closes, 0); /* still open for sending */
    CHECK_OK(sack_tcp_send(conn->sock, "answer", 6)); /* from this thread, later */
    CHECK_OK(sack_tcp_end(conn->sock));
    CHECK_RESULT(sack_tcp_send(conn->sock, "late", 4), SACK_TCP_ERR_CLOSED);
    char got[16] = {0};
    CHECK_EQ(raw_read_to_eof(fd, got, sizeof got, NULL, WAIT_MS), 6);
    CHECK(memcmp(got, "answer", 6) == 0);
    WAIT_UNTIL(conn->closes == 1);
    CHECK_EQ(conn->errors, 0);
    CHECK_STR(conn->log, "CRMNX");
    close(fd);
    server_stop(&srv);
    server_destroy(&srv);

    /* Default: the peer's FIN ends the connection (end, then close). */
    CHECK_OK(sack_tcp_options_init(&o));
    o.on_end = end_rec;
    server_start(&srv, "127.0.0.1", &o);
    fd = raw_connect("127.0.0.1", srv.port);
    raw_write_all(fd, "q", 1);
    CHECK(shutdown(fd, SHUT_WR) == 0);
    WAIT_UNTIL(srv.n_conns == 1 && srv.conns[0].closes == 1);
    CHECK_STR(srv.conns[0].log, "CRMNX");
    CHECK_EQ(raw_read_to_eof(fd, NULL, 0, NULL, WAIT_MS), 0);
    close(fd);
    server_stop(&srv);
    server_destroy(&srv);

    /* Client side: sack_tcp_end sends FIN, reading goes on. */
    uint16_t port = 0;
    int lfd = raw_listen("127.0.0.1", &port, 4);
    recorder cli;
    recorder_init(&cli);
    CHECK_OK(sack_tcp_options_init(&o));
    o.on_end = end_rec;
    recorder_options(&cli, &o);
    o.on_end = end_rec;
    char target[32];
    snprintf(target, sizeof target, "127.0.0.1:%u", (unsigned)port);
    o.to_address = target;
    sack_tcp *c = NULL;
    CHECK_OK(sack_tcp_open(&o, &c));
    int afd = raw_accept(lfd, WAIT_MS);
    CHECK_OK(sack_tcp_send(c, "request", 7));
    CHECK_OK(sack_tcp_end(c));
    CHECK_OK(sack_tcp_end(c)); /* twice is harmless */
    char req[16] = {0};
    CHECK_EQ(raw_read_to_eof(afd, req, sizeof req, NULL, WAIT_MS), 7); /* data, then FIN */
    CHECK(memcmp(req, "request", 7) == 0);
    raw_write_all(afd, "reply", 5); /* after our FIN, still delivered */
    CHECK(shutdown(afd, SHUT_WR) == 0);
    WAIT_UNTIL(cli.closes == 1);
    CHECK_EQ(cli.data_len, 5);
    CHECK(memcmp(cli.data, "reply", 5) == 0);
    /* Sent before the connect completed, the request waited in the queue:
     * a drain may come with it. */
    char without_drain[sizeof cli.log];
    size_t k = 0;
    for (size_t i = 0; i < cli.log_len; i++)
        if (cli.log[i] != 'D') without_drain[k++] = cli.log[i];
    without_drain[k] = 0;
    CHECK_STR(without_drain, "CRMNX");
    CHECK_EQ(cli.errors, 0);
    sack_tcp_free(c);
    recorder_destroy(&cli);
    close(afd);
    close(lfd);
}

/* ---- addresses outlive a reset ---- */

static char reset_seen_addr[SACK_TCP_ADDRESS_MAX];
static uint16_t reset_seen_port;
static sack_tcp_result reset_seen_rc = 1;

static void addr_on_error(void *ud, sack_tcp *s, sack_tcp_result code, const char *msg,
                          const uint8_t *data, size_t len) {
    sack_tcp_result rc = sack_tcp_get_remote_address(s, reset_seen_addr, sizeof reset_seen_addr);
    uint16_t port = 0;
    if (rc == SACK_TCP_OK) rc = sack_tcp_get_remote_port(s, &port);
    harness_lock();
    reset_seen_rc = rc;
    reset_seen_port = port;
    harness_unlock();
    rec_on_error(ud, s, code, msg, data, len);
}

TEST(addresses_readable_after_a_reset) {
    sack_tcp_options o;
    CHECK_OK(sack_tcp_options_init(&o));
    server srv;
    server_start(&srv, "127.0.0.1", &o);
    CHECK_OK(sack_tcp_on_error(srv.listener, addr_on_error));
    int fd = raw_connect("127.0.0.1", srv.port);
    struct sockaddr_in me;
    socklen_t me_len = sizeof me;
    CHECK(getsockname(fd, (struct sockaddr *)&me, &me_len) == 0);
    raw_write_all(fd, "x", 1);
    WAIT_UNTIL(srv.n_conns == 1 && srv.conns[0].messages == 1);
    raw_reset(fd);
    WAIT_UNTIL(srv.conns[0].closes == 1);
    CHECK_EQ(srv.conns[0].error_code, SACK_TCP_ERR_RESET);
    CHECK_OK(reset_seen_rc);
    CHECK_STR(reset_seen_addr, "127.0.0.1");
    CHECK_EQ(reset_seen_port, ntohs(me.sin_port));
    server_stop(&srv);
    server_destroy(&srv);
}

/* ---- bad input for the flow-control calls ---- */

TEST(flow_calls_refuse_bad_handles) {
    CHECK_RESULT(sack_tcp_pause(NULL), SACK_TCP_ERR_NULL_POINTER);
    CHECK_RESULT(sack_tcp_resume(NULL), SACK_TCP_ERR_NULL_POINTER);
    CHECK_RESULT(sack_tcp_end(NULL), SACK_TCP_ERR_NULL_POINTER);
    CHECK_RESULT(sack_tcp_on_end(NULL, end_rec), SACK_TCP_ERR_NULL_POINTER);
    server srv;
    server_start(&srv, "127.0.0.1", NULL);
    CHECK_RESULT(sack_tcp_pause(srv.listener), SACK_TCP_ERR_NOT_APPLICABLE);
    CHECK_RESULT(sack_tcp_resume(srv.listener), SACK_TCP_ERR_NOT_APPLICABLE);
    CHECK_RESULT(sack_tcp_end(srv.listener), SACK_TCP_ERR_NOT_APPLICABLE);
    CHECK_OK(sack_tcp_on_end(srv.listener, end_rec)); /* inherited by connections */
    recorder cli;
    recorder_init(&cli);
    sack_tcp *c = client_open(&cli, "127.0.0.1", srv.port, NULL);
    CHECK_OK(sack_tcp_pause(c)); /* before connecting: applies once connected */
    WAIT_UNTIL(cli.readies == 1);
    CHECK_OK(sack_tcp_resume(c));
    CHECK_OK(sack_tcp_close(c));
    CHECK_RESULT(sack_tcp_end(c), SACK_TCP_ERR_CLOSED);
    WAIT_UNTIL(cli.closes == 1);
    CHECK_RESULT(sack_tcp_pause(c), SACK_TCP_ERR_CLOSED);
    CHECK_RESULT(sack_tcp_resume(c), SACK_TCP_ERR_CLOSED);
    CHECK_RESULT(sack_tcp_end(c), SACK_TCP_ERR_CLOSED);
    CHECK_RESULT(sack_tcp_on_end(c, end_rec), SACK_TCP_ERR_CLOSED);
    sack_tcp_free(c);
    recorder_destroy(&cli);
    server_stop(&srv);
    server_destroy(&srv);

    /* Options: pause_reads_above must lie between the low mark and the limit. */
    sack_tcp_options o;
    CHECK_OK(sack_tcp_options_init(&o));
    o.send_queue_limit = 1000;
    o.pause_reads_above = 1000;
    sack_tcp *bad = NULL;
    CHECK_RESULT(sack_tcp_open(&o, &bad), SACK_TCP_ERR_INVALID_ARGUMENT);
    CHECK(bad == NULL);
}

/* ---- pause on full ---- */

/* An echo server whose client writes without reading: with
 * pause_reads_above its queue stays near the mark and no send is ever
 * refused (the recorder's echo fails the test on QUEUE_FULL); every byte
 * comes back once the client reads. */
TEST(pause_on_full_bounds_an_echo_server) {
    enum { MARK = 256 * 1024, LIMIT = 1024 * 1024 };
    const size_t total = 32u << 20;
    sack_tcp_options o;
    CHECK_OK(sack_tcp_options_init(&o));
    o.send_queue_limit = LIMIT;
    o.pause_reads_above = MARK;
    server srv;
    server_start(&srv, "127.0.0.1", &o);
    srv.echo = true;
    int fd = raw_connect("127.0.0.1", srv.port);
    /* Writes alone, until the kernel refuses more: the server stopped
     * reading because its queue passed the mark. */
    size_t sent = fill_until_eagain(fd, 0, total);
    CHECK(sent < total);
    WAIT_UNTIL(srv.n_conns == 1);
    size_t queued = 0;
    CHECK_OK(sack_tcp_get_queued_bytes(srv.conns[0].sock, &queued));
    if (queued > MARK + 64 * 1024) FAIL("%zu bytes queued, mark %d", queued, MARK);
    /* Now read everything back while writing the rest. */
    size_t got = 0;
    unsigned char buf[65536];
    long long deadline = harness_now_ms() + WAIT_MS * 3;
    while (got < total) {
        if (harness_now_ms() > deadline) FAIL("echo stalled at %zu of %zu", got, total);
        sent = fill_until_eagain(fd, sent, total);
        if (sent == total) shutdown(fd, SHUT_WR);
        struct pollfd p = {.fd = fd, .events = POLLIN | (sent < total ? POLLOUT : 0)};
        CHECK(poll(&p, 1, WAIT_MS) == 1);
        ssize_t k = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (k <= 0) continue;
        for (ssize_t i = 0; i < k; i++)
            if (buf[i] != (unsigned char)((got + (size_t)i) * 7)) FAIL("byte %zu differs", got + (size_t)i);
        got += (size_t)k;
    }
    CHECK_EQ(raw_read_to_eof(fd, NULL, 0, NULL, WAIT_MS), 0);
    WAIT_UNTIL(srv.conns[0].closes == 1);
    CHECK_EQ(srv.conns[0].errors, 0);
    close(fd);
    server_stop(&srv);
    server_destroy(&srv);
}

/* ---- queued delivery is bounded ---- */

static struct {
    int fd;
    size_t total, sent;
    bool stalled, done;
} qw;

static long rss_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    CHECK(f != NULL);
    char line[256];
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1) break;
    fclose(f);
    return kib;
}

/* Writes `total` bytes as fast as the receiver takes them. Once a write
 * would block and the socket stays unwritable for a second, it reports a
 * stall: the library has stopped reading (it reads megabytes a second
 * otherwise). */
static void *qw_writer(void *arg) {
    (void)arg;
    for (;;) {
        harness_lock();
        size_t sent = qw.sent, total = qw.total;
        harness_unlock();
        if (sent == total) break;
        size_t now = fill_until_eagain(qw.fd, sent, total);
        harness_lock();
        qw.sent = now;
        harness_unlock();
        if (now == total) break;
        struct pollfd p = {.fd = qw.fd, .events = POLLOUT};
        if (poll(&p, 1, 1000) == 0) {
            harness_lock();
            qw.stalled = true;
            harness_unlock();
            poll(&p, 1, -1);
        }
    }
    shutdown(qw.fd, SHUT_WR);
    harness_lock();
    qw.done = true;
    harness_unlock();
    return NULL;
}

static struct {
    size_t got;
    bool bad;
    int closes;
} qr;

static void qr_message(void *ud, sack_tcp *s, const uint8_t *d, size_t n) {
    (void)ud;
    (void)s;
    for (size_t i = 0; i < n; i++)
        if (d[i] != (unsigned char)((qr.got + i) * 7)) qr.bad = true;
    harness_lock();
    qr.got += n;
    harness_unlock();
}

static void qr_close(void *ud, sack_tcp *s) {
    (void)ud;
    (void)s; /* without a connect callback the listener owns its connections */
    harness_lock();
    qr.closes++;
    harness_unlock();
}

TEST(queued_delivery_stops_reading_past_its_limit) {
    enum { LIMIT = 16 << 20 };
    sack_tcp_runtime_options ro;
    CHECK_OK(sack_tcp_runtime_options_init(&ro));
    ro.delivery_mode = SACK_TCP_DELIVERY_QUEUED;
    ro.queued_bytes_limit = LIMIT; /* per socket: the default 4 MiB */
    CHECK_OK(sack_tcp_runtime_start(&ro));
    int event_fd = -1;
    CHECK_OK(sack_tcp_get_event_fd(&event_fd));
    sack_tcp_options o;
    CHECK_OK(sack_tcp_options_init(&o));
    o.on_message = qr_message;
    o.on_close = qr_close;
    o.address = "127.0.0.1";
    sack_tcp *listener = NULL;
    CHECK_OK(sack_tcp_open(&o, &listener));
    uint16_t port = 0;
    CHECK_OK(sack_tcp_get_local_port(listener, &port));
    qw.fd = raw_connect("127.0.0.1", port);
    qw.total = 512u << 20;
    long before = rss_kib();
    pthread_t writer;
    CHECK(pthread_create(&writer, NULL, qw_writer, NULL) == 0);
    /* The host does not dispatch until the writer stalls. */
    WAIT_UNTIL(qw.stalled || qw.done);
    CHECK(!qw.done);
    long grown_kib = rss_kib() - before;
    harness_lock();
    size_t sent_then = qw.sent;
    harness_unlock();
    printf("stalled after %zu MiB sent; RSS grew %ld KiB\n", sent_then >> 20, grown_kib);
    if (grown_kib > (LIMIT >> 10) + 8192) FAIL("RSS grew by %ld KiB without dispatch", grown_kib);
    /* Dispatching again brings every byte, in order. */
    long long deadline = harness_now_ms() + 60000LL * harness_slow();
    for (;;) {
        harness_lock();
        bool finished = qr.closes == 1;
        harness_unlock();
        if (finished) break;
        if (harness_now_ms() > deadline) FAIL("only %zu of %zu bytes dispatched", qr.got, qw.total);
        struct pollfd p = {.fd = event_fd, .events = POLLIN};
        poll(&p, 1, 1000);
        size_t n = 0;
        CHECK_OK(sack_tcp_dispatch(1024, &n));
    }
    CHECK(pthread_join(writer, NULL) == 0);
    CHECK_EQ(qr.got, qw.total);
    CHECK(!qr.bad);
    close(qw.fd);
    CHECK_OK(sack_tcp_close(listener));
    size_t n = 0;
    while (qr.closes < 2) {
        struct pollfd p = {.fd = event_fd, .events = POLLIN};
        poll(&p, 1, 1000);
        CHECK_OK(sack_tcp_dispatch(16, &n));
    }
    sack_tcp_free(listener);
}

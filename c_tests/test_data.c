/* Data paths: chunking, text mode, graceful and abortive close, the send
 * queue's limit and drain, concurrent senders, and send/close ordering. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

/* ---- helpers ---- */

/* xorshift32: deterministic pseudo-random bytes. */
static uint32_t prng_next(uint32_t *state) {
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    return x;
}

static void prng_fill(uint32_t *state, unsigned char *buf, size_t n) {
    for (size_t i = 0; i < n; i++) buf[i] = (unsigned char)(prng_next(state) >> 24);
}

/* Strict UTF-8 check: no overlongs, no surrogates, nothing above U+10FFFF,
 * no truncated sequence at the end. */
static bool utf8_valid(const uint8_t *p, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint32_t cp, min;
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1, cp = c & 0x1F, min = 0x80;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2, cp = c & 0x0F, min = 0x800;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (n - i - 1 < need) return false;
        for (size_t k = 1; k <= need; k++) {
            if ((p[i + k] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += need + 1;
    }
    return true;
}

/* Per-message log kept by msg_check_on_message (one socket per test). */
#define MSG_LOG_MAX 256
static struct {
    int n;
    size_t offset[MSG_LOG_MAX]; /* where message i starts in the recorder's data */
    size_t len[MSG_LOG_MAX];
    bool text[MSG_LOG_MAX];     /* read_strings was on for message i */
    bool bad_utf8;              /* a text message was not whole, valid UTF-8 */
    bool missing_nul;           /* a text message lacked data[len] == 0 */
    size_t total;
} msg_log;

/* Wraps rec_on_message: validates each message on its own, then records. */
static void msg_check_on_message(void *ud, sack_tcp *s, const uint8_t *data, size_t len) {
    bool rs = false;
    sack_tcp_get_read_strings(s, &rs);
    bool valid = !rs || utf8_valid(data, len);
    bool nul = !rs || data[len] == 0;
    harness_lock();
    if (msg_log.n < MSG_LOG_MAX) {
        msg_log.offset[msg_log.n] = msg_log.total;
        msg_log.len[msg_log.n] = len;
        msg_log.text[msg_log.n] = rs;
    }
    msg_log.n++;
    msg_log.total += len;
    if (!valid) msg_log.bad_utf8 = true;
    if (!nul) msg_log.missing_nul = true;
    harness_unlock();
    rec_on_message(ud, s, data, len);
}

static void msg_log_reset(void) {
    harness_lock();
    memset(&msg_log, 0, sizeof msg_log);
    harness_unlock();
}

/* Checks that message i of recorder r is exactly the given bytes. */
static void check_message(const recorder *r, int i, const void *bytes, size_t n) {
    harness_lock();
    if (i >= msg_log.n || i >= MSG_LOG_MAX) {
        int have = msg_log.n;
        harness_unlock();
        FAIL("message %d missing (%d messages)", i, have);
    }
    size_t off = msg_log.offset[i], len = msg_log.len[i];
    bool same = len == n && off + len <= r->data_len && memcmp(r->data + off, bytes, n) == 0;
    harness_unlock();
    if (!same) {
        char hex[3 * 64 + 1] = "";
        for (size_t k = 0; k < len && k < 64 && off + k < r->data_len; k++)
            snprintf(hex + 3 * k, sizeof hex - 3 * k, "%02x ", r->data[off + k]);
        FAIL("message %d: got %zu bytes [%s], expected %zu", i, len, hex, n);
    }
}

/* A sack client (recorder r, message callbacks through msg_check) connected
 * to a raw listener; returns the client and the accepted raw descriptor. */
static sack_tcp *client_to_raw(recorder *r, const sack_tcp_options *base, int *raw_fd) {
    uint16_t port = 0;
    int lfd = raw_listen("127.0.0.1", &port, 16);
    sack_tcp *c = client_open(r, "127.0.0.1", port, base);
    *raw_fd = raw_accept(lfd, WAIT_MS);
    close(lfd);
    WAIT_UNTIL(r->readies == 1);
    CHECK_EQ(r->connect_status, SACK_TCP_OK);
    return c;
}

/* Closes the raw peer, waits for the sack client's close, frees it. */
static void finish_client(recorder *r, sack_tcp *c, int raw_fd) {
    close(raw_fd);
    WAIT_UNTIL(r->closes == 1);
    CHECK(!r->callback_after_close);
    CHECK(!r->overlap);
    sack_tcp_free(c);
}

/* Waits (with poll) for fd to become readable, then expects recv to report
 * ECONNRESET. */
static void expect_reset(int fd) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    long long deadline = harness_now_ms() + WAIT_MS;
    for (;;) {
        long long left = deadline - harness_now_ms();
        if (left <= 0) FAIL("timed out waiting for the reset");
        int n = poll(&p, 1, (int)left);
        if (n > 0) break;
        if (n < 0 && errno != EINTR) FAIL("poll: %s", strerror(errno));
    }
    char b;
    errno = 0;
    ssize_t k = recv(fd, &b, 1, MSG_DONTWAIT);
    if (k != -1 || errno != ECONNRESET)
        FAIL("recv returned %zd (errno %d: %s), expected -1 with ECONNRESET", k, errno,
             strerror(errno));
}

/* ---- 1. chunking ---- */

TEST(data_100k_chunks) {
    enum { TOTAL = 100 * 1024 };
    sack_tcp_options o;
    CHECK_OK(sack_tcp_options_init(&o));
    o.read_buffer_size = 1000;
    server srv;
    server_start(&srv, "127.0.0.1", &o);

    unsigned char *sent = malloc(TOTAL);
    CHECK(sent != NULL);
    uint32_t seed = 0x12345678;
    prng_fill(&seed, sent, TOTAL);

    int fd = raw_connect("127.0.0.1", srv.port);
    raw_write_all(fd, sent, TOTAL);
    WAIT_UNTIL(srv.n_conns == 1 && srv.conns[0].data_len >= TOTAL);
    recorder *r = &srv.conns[0];
    CHECK_EQ(r->data_len, TOTAL);
    CHECK(memcmp(r->data, sent, TOTAL) == 0);
    CHECK(r->max_chunk <= 1000);
    CHECK(r->max_chunk > 0);
    CHECK(r->messages > 1);
    /* 100 KiB in chunks of at most 1000 bytes needs at least 103 calls. */
    CHECK(r->messages >= (TOTAL + 999) / 1000);

    close(fd);
    WAIT_UNTIL(r->closes == 1);
    CHECK_EQ(r->errors, 0);
    CHECK(!r->callback_after_close && !r->overlap);
    CHECK_EQ(r->data_len, TOTAL);
    server_stop(&srv);
    server_destroy(&srv);
    free(sent);
}

/* ---- 2-4. text mode ---- */

TEST(data_text_split_4byte) {
    msg_log_reset();
    sack_tcp_options o;
    CHECK_OK(sack_tcp_options_init(&o));
    o.read_strings = true;
    recorder cli;
    recorder_init(&cli);
    int fd;
    sack_tcp *c = client_to_raw(&cli, &o, &fd);
    CHECK_OK(sack_tcp_on_message(c, msg_check_on_message));
    bool rs = false;
    CHECK_OK(sack_tcp_get_read_strings(c, &rs));
    CHECK(rs);

    /* "A" and the first half of U+1F600 in one segment. */
    raw_write_all(fd, "A\xF0\x9F", 3);
    WAIT_UNTIL(cli.messages >= 1);
    check_message(&cli, 0, "A", 1);
    harness_lock();
    int n_after_first = cli.messages;
    size_t len_after_first = cli.data_len;
    harness_unlock();
    CHECK_EQ(n_after_first, 1);
    CHECK_EQ(len_after_first, 1);

    /* The rest of the character and "B". */
    raw_write_all(fd, "\x98\x80" "B", 3);
    WAIT_UNTIL(cli.data_len >= 6);
    CHECK_EQ(cli.messages, 2);
    CHECK_EQ(cli.data_len, 6);
    check_message(&cli, 1, "\xF0\x9F\x98\x80" "B", 5);
    CHECK(!cli.text_invalid);
    CHECK(!msg_log.bad_utf8);
    CHECK(!msg_log.missing_nul);
    CHECK_EQ(cli.errors, 0);

    finish_client(&cli, c, fd);
    CHECK_EQ(cli.messages, 2);
    CHECK_EQ(cli.errors, 0);
    recorder_destroy(&cli);
}

TEST(data_text_invalid_bytes) {
    msg_log_reset();
    sack_tcp_options o;
    CHECK_OK(sack_tcp_options_init(&o));
    o.read_strings = true;
    recorder cli;
    recorder_init(&cli);
    int fd;
    sack_tcp *c = client_to_raw(&cli, &o, &fd);
    CHECK_OK(sack_tcp_on_message(c, msg_check_on_message));

    /* FF can never start a character; 80 is a continuation byte with no
     * lead. Each becomes one U+FFFD. */
    static const char in1[] = "a\xFF" "b\x80" "c";
    static const char out1[] = "a\xEF\xBF\xBD" "b\xEF\xBF\xBD" "c";
    raw_write_all(fd, in1, sizeof in1 - 1);
    WAIT_UNTIL(cli.data_len >= sizeof out1 - 1);
    CHECK_EQ(cli.data_len, sizeof out1 - 1);
    CHECK(memcmp(cli.data, out1, sizeof out1 - 1) == 0);

    /* The two adjacent: two replacement characters. */
    static const char in2[] = "\xFF\x80" "d";
    static const char out2[] = "\xEF\xBF\xBD\xEF\xBF\xBD" "d";
    raw_write_all(fd, in2, sizeof in2 - 1);
    size_t want = sizeof out1 - 1 + sizeof out2 - 1;
    WAIT_UNTIL(cli.data_len >= want);
    CHECK_EQ(cli.data_len, want);
    CHECK(memcmp(cli.data + sizeof out1 - 1, out2, sizeof out2 - 1) == 0);

    CHECK(!cli.text_invalid);
    CHECK(!msg_log.bad_utf8);
    CHECK(!msg_log.missing_nul);
    CHECK_EQ(cli.errors, 0);
    finish_client(&cli, c, fd);
    CHECK_EQ(cli.errors, 0);
    CHECK_EQ(cli.data_len, want);
    recorder_destroy(&cli);
}

TEST(data_read_strings_setter) {
    msg_log_reset();
    recorder cli;
    recorder_init(&cli);
    int fd;
    sack_tcp *c = client_to_raw(&cli, NULL, &fd);
    CHECK_OK(sack_tcp_on_message(c, msg_check_on_message));
    bool rs = true;
    CHECK_OK(sack_tcp_get_read_strings(c, &rs));
    CHECK(!rs);

    /* Binary: FF arrives as itself. */
    raw_write_all(fd, "b\xFF", 2);
    WAIT_UNTIL(cli.data_len >= 2);
    CHECK_EQ(cli.messages, 1);
    check_message(&cli, 0, "b\xFF", 2);
    CHECK(!msg_log.text[0]);

    /* Text from the next read: FF becomes U+FFFD, and the NUL follows. */
    CHECK_OK(sack_tcp_set_read_strings(c, true));
    CHECK_OK(sack_tcp_get_read_strings(c, &rs));
    CHECK(rs);
    raw_write_all(fd, "t\xFF", 2);
    WAIT_UNTIL(cli.data_len >= 6);
    CHECK_EQ(cli.messages, 2);
    CHECK_EQ(cli.data_len, 6);
    check_message(&cli, 1, "t\xEF\xBF\xBD", 4);
    CHECK(msg_log.text[1]);
    CHECK(!msg_log.missing_nul);
    CHECK(!cli.text_invalid);

    /* And back off again. */
    CHECK_OK(sack_tcp_set_read_strings(c, false));
    CHECK_OK(sack_tcp_get_read_strings(c, &rs));
    CHECK(!rs);
    raw_write_all(fd, "z\xFF", 2);
    WAIT_UNTIL(cli.data_len >= 8);
    CHECK_EQ(cli.messages, 3);
    CHECK_EQ(cli.data_len, 8);
    check_message(&cli, 2, "z\xFF", 2);
    CHECK(!msg_log.text[2]);

    finish_client(&cli, c, fd);
    CHECK_EQ(cli.errors, 0);
    recorder_destroy(&cli);

    /* On a listener it sets the mode accepted connections start with. */
    msg_log_reset();
    server srv;
    server_start(&srv, "127.0.0.1", NULL);
    CHECK_OK(sack_tcp_get_read_strings(srv.listener, &rs));
    CHECK(!rs);
    CHECK_OK(sack_tcp_set_read_strings(srv.listener, true));
    CHECK_OK(sack_tcp_get_read_strings(srv.listener, &rs));
    CHECK(rs);
    CHECK_OK(sack_tcp_on_message(srv.listener, msg_check_on_message));
    int fd2 = raw_connect("127.0.0.1", srv.port);
    raw_write_all(fd2, "x\x80", 2);
    WAIT_UNTIL(srv.n_conns == 1 && srv.conns[0].data_len >= 4);
    recorder *r = &srv.conns[0];
    CHECK_EQ(r->data_len, 4);
    check_message(r, 0, "x\xEF\xBF\xBD", 4);
    CHECK(msg_log.text[0]);
    CHECK(!msg_log.missing_nul);
    close(fd2);
    WAIT_UNTIL(r->closes == 1);
    server_stop(&srv);
    server_destroy(&srv);
}

/* ---- 5. graceful close flushes everything ---- */

TEST(data_graceful_close_64mib) {
    enum { CHUNK = 1 << 20, CHUNKS = 64 };
    const size_t total = (size_t)CHUNK * CHUNKS;
    sack_tcp_options o;
    CHECK_OK(sack_tcp_options_init(&o));
    o.send_queue_limit = (size_t)128 << 20;
    o.close_timeout_ms = 60000;
    recorder cli;
    recorder_init(&cli);
    int fd;
    sack_tcp *c = client_to_raw(&cli, &o, &fd);

    unsigned char *buf = malloc(CHUNK);
    CHECK(buf != NULL);
    uint32_t seed = 0xC0FFEE11, crc = 0;
    for (int i = 0; i < CHUNKS; i++) {
        prng_fill(&seed, buf, CHUNK);
        crc = crc32_update(crc, buf, CHUNK);
        CHECK_OK(sack_tcp_send(c, buf, CHUNK));
    }
    CHECK_OK(sack_tcp_close(c));
    free(buf);
    /* Closing: nothing more is accepted. */
    CHECK_RESULT(sack_tcp_send(c, "late", 4), SACK_TCP_ERR_CLOSED);

    uint32_t got_crc = 0;
    size_t got = raw_read_to_eof(fd, NULL, 0, &got_crc, 60000);
    CHECK_EQ(got, total);
    CHECK_EQ(got_crc, crc);

    /* The sack side closed its writing half and waits for our FIN; bytes
     * arriving now must not reach a message callback. */
    raw_write_all(fd, "after close", 11);
    close(fd);
    WAIT_UNTIL(cli.closes == 1);
    CHECK_EQ(cli.closes, 1);
    CHECK_EQ(cli.errors, 0);
    CHECK_EQ(cli.messages, 0);
    CHECK(!cli.callback_after_close && !cli.overlap);
    CHECK(strchr(cli.log, 'M') == NULL && strchr(cli.log, 'E') == NULL);
    CHECK_EQ(cli.log[cli.log_len - 1], 'X');
    CHECK_RESULT(sack_tcp_close(c), SACK_TCP_ERR_CLOSED);
    sack_tcp_free(c);
    recorder_destroy(&cli);
}

/* ---- 6. abort ---- */

TEST(data_abort_resets) {
    /* A client aborts. */
    recorder cli;
    recorder_init(&cli);
    int fd;
    sack_tcp *c = client_to_raw(&cli, NULL, &fd);
    CHECK_OK(sack_tcp_send(c, "hi", 2));
    char two[2];
    raw_read_exact(fd, two, 2, WAIT_MS);
    CHECK(memcmp(two, "hi", 2) == 0);
    CHECK_OK(sack_tcp_abort(c));
    expect_reset(fd);
    close(fd);
    WAIT_UNTIL(cli.closes == 1);
    CHECK_EQ(cli.errors, 0);
    CHECK(!cli.callback_after_close && !cli.overlap);
    CHECK_RESULT(sack_tcp_send(c, "x", 1), SACK_TCP_ERR_CLOSED);
    CHECK_RESULT(sack_tcp_abort(c), SACK_TCP_ERR_CLOSED);
    sack_tcp_free(c);
    recorder_destroy(&cli);

    /* An accepted connection aborts. */
    server srv;
    server_start(&srv, "127.0.0.1", NULL);
    int fd2 = raw_connect("127.0.0.1", srv.port);
    raw_write_all(fd2, "ping", 4);
    WAIT_UNTIL(srv.n_conns == 1 && srv.conns[0].data_len == 4);
    recorder *r = &srv.conns[0];
    sack_tcp *conn = r->sock;
    CHECK_OK(sack_tcp_retain(conn));
    CHECK_OK(sack_tcp_abort(conn));
    expect_reset(fd2);
    close(fd2);
    WAIT_UNTIL(r->closes == 1);
    CHECK_EQ(r->errors, 0);
    CHECK(!r->callback_after_close && !r->overlap);
    CHECK_STR(r->log, "CRMX");
    CHECK_RESULT(sack_tcp_send(conn, "x", 1), SACK_TCP_ERR_CLOSED);
    sack_tcp_free(conn);
    server_stop(&srv);
    server_destroy(&srv);
}

/* ---- 7. queue limit and drain ---- */

TEST(data_queue_limit_and_drain) {
    enum { MSG = 16 * 1024, MAX_SENDS = 100000 };
    const size_t limit = 256 * 1024;
    sack_tcp_options o;
    CHECK_OK(sack_tcp_options_init(&o));
    o.send_queue_limit = limit;
    o.send_queue_low_mark = 0;
    recorder cli;
    recorder_init(&cli);
    int fd; /* accepted, but not read until the queue is full */
    sack_tcp *c = client_to_raw(&cli, &o, &fd);

    unsigned char msg[MSG];
    size_t accepted = 0; /* messages sack_tcp_send took */
    bool full = false;
    for (int i = 0; i < MAX_SENDS && !full; i++) {
        size_t before = 0;
        CHECK_OK(sack_tcp_get_queued_bytes(c, &before));
        CHECK(before <= limit);
        uint32_t idx = (uint32_t)accepted;
        memset(msg, (int)(idx * 37 + 11) & 0xff, MSG);
        memcpy(msg, &idx, sizeof idx);
        sack_tcp_result rc = sack_tcp_send(c, msg, MSG);
        if (rc == SACK_TCP_OK) {
            accepted++;
        } else if (rc == SACK_TCP_ERR_QUEUE_FULL) {
            /* Only this thread adds to the queue, so it can only have
             * shrunk since `before`: refusing means it really was full. */
            if (before + MSG <= limit)
                FAIL("refused with %zu queued, %d more would fit under %zu", before, MSG, limit);
            full = true;
        } else {
            FAIL("send %d returned %s", i, sack_tcp_error_name(rc));
        }
    }
    if (!full) FAIL("the queue never filled after %zu sends", accepted);

    size_t q1 = 0, q2 = 0;
    CHECK_OK(sack_tcp_get_queued_bytes(c, &q1));
    CHECK(q1 > 0);
    CHECK(q1 <= limit);
    /* A refused send queues nothing. */
    CHECK_RESULT(sack_tcp_send(c, msg, MSG), SACK_TCP_ERR_QUEUE_FULL);
    CHECK_OK(sack_tcp_get_queued_bytes(c, &q2));
    CHECK_EQ(q2, q1);

    /* Read exactly what was accepted; check every message in order. */
    size_t total = accepted * MSG;
    unsigned char *got = malloc(total);
    CHECK(got != NULL);
    raw_read_exact(fd, got, total, 30000);
    for (size_t k = 0; k < accepted; k++) {
        uint32_t idx;
        memcpy(&idx, got + k * MSG, sizeof idx);
        if (idx != k) FAIL("message %zu arrived as %u", k, idx);
        unsigned char fill = (unsigned char)((k * 37 + 11) & 0xff);
        for (size_t b = sizeof idx; b < MSG; b++)
            if (got[k * MSG + b] != fill) FAIL("message %zu byte %zu corrupt", k, b);
    }
    free(got);

    WAIT_UNTIL(cli.drains >= 1);
    size_t q3 = 1;
    CHECK_OK(sack_tcp_get_queued_bytes(c, &q3));
    CHECK_EQ(q3, 0);
    CHECK_EQ(cli.errors, 0);

    /* Sending works again, and no refused byte ever went out: after a
     * graceful close the peer sees only this and then EOF. */
    CHECK_OK(sack_tcp_send(c, "tail", 4));
    CHECK_OK(sack_tcp_close(c));
    char rest[16];
    uint32_t crc = 0;
    size_t n = raw_read_to_eof(fd, rest, sizeof rest, &crc, WAIT_MS);
    CHECK_EQ(n, 4);
    CHECK(memcmp(rest, "tail", 4) == 0);
    finish_client(&cli, c, fd);
    CHECK_EQ(cli.errors, 0);
    recorder_destroy(&cli);
}

/* ---- 8. many threads sending on one handle ---- */

enum { SENDER_THREADS = 4, SENDS_PER_THREAD = 2500 };

struct sender {
    pthread_t thread;
    sack_tcp *handle;
    uint32_t id;
    pthread_barrier_t *start;
    int sent;
    sack_tcp_result failure;
};

static void *sender_main(void *arg) {
    struct sender *s = arg;
    pthread_barrier_wait(s->start);
    for (uint32_t seq = 0; seq < SENDS_PER_THREAD; seq++) {
        uint32_t rec[2] = {s->id, seq};
        sack_tcp_result rc = sack_tcp_send(s->handle, rec, sizeof rec);
        if (rc != SACK_TCP_OK) {
            s->failure = rc;
            break;
        }
        s->sent++;
    }
    sack_tcp_free(s->handle);
    return NULL;
}

TEST(data_threads_10k_sends) {
    const size_t total = (size_t)SENDER_THREADS * SENDS_PER_THREAD * 8;
    server srv;
    server_start(&srv, "127.0.0.1", NULL);
    recorder cli;
    recorder_init(&cli);
    sack_tcp *c = client_open(&cli, "127.0.0.1", srv.port, NULL);
    WAIT_UNTIL(cli.readies == 1 && srv.n_conns == 1 && srv.conns[0].readies == 1);

    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, SENDER_THREADS);
    struct sender senders[SENDER_THREADS];
    for (uint32_t t = 0; t < SENDER_THREADS; t++) {
        senders[t] = (struct sender){.handle = c, .id = t, .start = &start};
        CHECK_OK(sack_tcp_retain(c));
        if (pthread_create(&senders[t].thread, NULL, sender_main, &senders[t]) != 0)
            FAIL("pthread_create failed");
    }
    for (int t = 0; t < SENDER_THREADS; t++) pthread_join(senders[t].thread, NULL);
    pthread_barrier_destroy(&start);
    for (int t = 0; t < SENDER_THREADS; t++) {
        if (senders[t].failure != SACK_TCP_OK)
            FAIL("thread %d: send %d returned %s", t, senders[t].sent,
                 sack_tcp_error_name(senders[t].failure));
        CHECK_EQ(senders[t].sent, SENDS_PER_THREAD);
    }

    recorder *r = &srv.conns[0];
    WAIT_UNTIL(r->data_len >= total);
    /* Close and wait for both ends, so no late byte can hide. */
    CHECK_OK(sack_tcp_close(c));
    WAIT_UNTIL(cli.closes == 1 && r->closes == 1);
    CHECK_EQ(r->data_len, total);
    CHECK_EQ(r->errors, 0);
    CHECK_EQ(cli.errors, 0);
    CHECK(!r->overlap && !r->callback_after_close);
    CHECK(!cli.overlap && !cli.callback_after_close);

    uint32_t next[SENDER_THREADS] = {0};
    for (size_t off = 0; off < total; off += 8) {
        uint32_t rec[2];
        memcpy(rec, r->data + off, sizeof rec);
        if (rec[0] >= SENDER_THREADS)
            FAIL("record at %zu: bad thread id %u (seq %u)", off, rec[0], rec[1]);
        if (rec[1] != next[rec[0]])
            FAIL("record at %zu: thread %u seq %u, expected %u", off, rec[0], rec[1],
                 next[rec[0]]);
        next[rec[0]]++;
    }
    for (int t = 0; t < SENDER_THREADS; t++) CHECK_EQ(next[t], SENDS_PER_THREAD);

    sack_tcp_free(c);
    server_stop(&srv);
    server_destroy(&srv);
    recorder_destroy(&cli);
}

/* ---- 9. close from the message callback ---- */

TEST(data_close_in_message_callback) {
    server srv;
    server_start(&srv, "127.0.0.1", NULL);
    srv.close_on_message = true;
    recorder cli;
    recorder_init(&cli);
    sack_tcp *c = client_open(&cli, "127.0.0.1", srv.port, NULL);
    WAIT_UNTIL(cli.readies == 1);
    CHECK_OK(sack_tcp_send(c, "x", 1));
    WAIT_UNTIL(srv.n_conns == 1 && srv.conns[0].closes == 1 && cli.closes == 1);
    recorder *r = &srv.conns[0];
    CHECK_EQ(r->messages, 1);
    CHECK_EQ(r->data_len, 1);
    CHECK_EQ(r->data[0], 'x');
    CHECK_STR(r->log, "CRMX");
    CHECK_EQ(r->errors, 0);
    CHECK(!r->callback_after_close && !r->overlap);
    CHECK_STR(cli.log, "CRX");
    CHECK_EQ(cli.errors, 0);
    CHECK(!cli.callback_after_close && !cli.overlap);
    sack_tcp_free(c);

    /* With a 16-byte read buffer, 64 bytes need several reads; the close
     * from the first message callback stops the rest. */
    server srv2;
    sack_tcp_options o;
    CHECK_OK(sack_tcp_options_init(&o));
    o.read_buffer_size = 16;
    server_start(&srv2, "127.0.0.1", &o);
    srv2.close_on_message = true;
    int fd = raw_connect("127.0.0.1", srv2.port);
    char big[64];
    memset(big, 'y', sizeof big);
    raw_write_all(fd, big, sizeof big);
    WAIT_UNTIL(srv2.n_conns == 1 && srv2.conns[0].messages >= 1);
    /* The sack side ends its half: we read EOF and then end ours. */
    uint32_t crc;
    CHECK_EQ(raw_read_to_eof(fd, NULL, 0, &crc, WAIT_MS), 0);
    close(fd);
    recorder *r2 = &srv2.conns[0];
    WAIT_UNTIL(r2->closes == 1);
    CHECK_EQ(r2->messages, 1);
    CHECK(r2->data_len >= 1 && r2->data_len <= 16);
    CHECK_STR(r2->log, "CRMX");
    CHECK_EQ(r2->errors, 0);
    CHECK(!r2->callback_after_close && !r2->overlap);

    server_stop(&srv);
    server_destroy(&srv);
    server_stop(&srv2);
    server_destroy(&srv2);
    recorder_destroy(&cli);
}

/* ---- 10. sending before ready ---- */

/* A connect callback that holds the client in its connect callback until
 * the test thread has sent, so the send certainly precedes ready. */
static bool early_sent;

static void hold_connect(void *ud, sack_tcp *s, sack_tcp_result status) {
    long long deadline = harness_now_ms() + WAIT_MS;
    harness_lock();
    while (!early_sent && harness_wait(deadline)) {
    }
    harness_unlock();
    rec_on_connect(ud, s, status);
}

TEST(data_send_before_ready_is_queued) {
    /* (a) Straight after open: connect may or may not have happened. */
    server srv;
    server_start(&srv, "127.0.0.1", NULL);
    recorder cli;
    recorder_init(&cli);
    sack_tcp *c = client_open(&cli, "127.0.0.1", srv.port, NULL);
    CHECK_OK(sack_tcp_send(c, "ab", 2));
    CHECK_OK(sack_tcp_send(c, "cd", 2));
    CHECK_OK(sack_tcp_send(c, "ef", 2));
    WAIT_UNTIL(srv.n_conns == 1 && srv.conns[0].data_len >= 6);
    CHECK_EQ(srv.conns[0].data_len, 6);
    CHECK(memcmp(srv.conns[0].data, "abcdef", 6) == 0);
    WAIT_UNTIL(cli.readies == 1);
    CHECK_OK(sack_tcp_close(c));
    WAIT_UNTIL(cli.closes == 1 && srv.conns[0].closes == 1);
    CHECK_EQ(cli.errors, 0);
    sack_tcp_free(c);

    /* (b) Connected but held in the connect callback: the send is queued
     * (ready has certainly not fired) and written once ready comes. */
    harness_lock();
    early_sent = false;
    harness_unlock();
    recorder cli2;
    recorder_init(&cli2);
    sack_tcp_options o;
    CHECK_OK(sack_tcp_options_init(&o));
    recorder_options(&cli2, &o);
    o.on_connect = hold_connect;
    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%u", (unsigned)srv.port);
    o.to_address = target;
    sack_tcp *c2 = NULL;
    CHECK_OK(sack_tcp_open(&o, &c2));
    CHECK_OK(sack_tcp_send(c2, "early", 5));
    size_t q_at_send = 0;
    CHECK_OK(sack_tcp_get_queued_bytes(c2, &q_at_send));
    harness_lock();
    int readies_at_send = cli2.readies;
    early_sent = true;
    harness_unlock();
    CHECK_EQ(readies_at_send, 0);
    WAIT_UNTIL(srv.n_conns == 2 && srv.conns[1].data_len >= 5);
    CHECK_EQ(srv.conns[1].data_len, 5);
    CHECK(memcmp(srv.conns[1].data, "early", 5) == 0);
    WAIT_UNTIL(cli2.readies == 1);
    CHECK_OK(sack_tcp_close(c2));
    WAIT_UNTIL(cli2.closes == 1 && srv.conns[1].closes == 1);
    /* Bytes that were queued (above the low mark of 0) and then flushed
     * bring a drain; bytes written straight to the kernel do not. */
    if (q_at_send > 0)
        CHECK_STR(cli2.log, "CRDX");
    else if (strcmp(cli2.log, "CRX") != 0)
        CHECK_STR(cli2.log, "CRDX");
    CHECK_EQ(cli2.errors, 0);
    sack_tcp_free(c2);
    server_stop(&srv);
    server_destroy(&srv);
    recorder_destroy(&cli);
    recorder_destroy(&cli2);

    /* (c) Not connected at all: the listener's accept queue is full, so
     * the SYN is dropped and retried; the send is queued meanwhile. */
    uint16_t port = 0;
    int lfd = raw_listen("127.0.0.1", &port, 0);
    int filler = raw_connect("127.0.0.1", port); /* fills the backlog of 0 */
    recorder cli3;
    recorder_init(&cli3);
    sack_tcp *c3 = client_open(&cli3, "127.0.0.1", port, NULL);
    CHECK_OK(sack_tcp_send(c3, "queued!", 7));
    harness_lock();
    int connects_at_send = cli3.connects;
    harness_unlock();
    CHECK_EQ(connects_at_send, 0);
    size_t q = 0;
    CHECK_OK(sack_tcp_get_queued_bytes(c3, &q));
    CHECK_EQ(q, 7);
    int a1 = raw_accept(lfd, WAIT_MS);
    close(a1);
    close(filler);
    int fd = raw_accept(lfd, 20000);
    close(lfd);
    char got[7];
    raw_read_exact(fd, got, 7, WAIT_MS);
    CHECK(memcmp(got, "queued!", 7) == 0);
    WAIT_UNTIL(cli3.readies == 1);
    CHECK_EQ(cli3.connect_status, SACK_TCP_OK);
    CHECK_OK(sack_tcp_close(c3));
    uint32_t crc;
    CHECK_EQ(raw_read_to_eof(fd, NULL, 0, &crc, WAIT_MS), 0);
    finish_client(&cli3, c3, fd);
    CHECK_EQ(cli3.errors, 0);
    /* The 7 queued bytes were above the low mark and then flushed. */
    CHECK_STR(cli3.log, "CRDX");
    recorder_destroy(&cli3);
}

/* ---- 11. the peer's FIN ---- */

TEST(data_peer_close_flushes) {
    /* The peer sends and ends its side: data, then close, then our FIN. */
    server srv;
    server_start(&srv, "::1", NULL);
    int fd = raw_connect("::1", srv.port);
    raw_write_all(fd, "goodbye", 7);
    CHECK(shutdown(fd, SHUT_WR) == 0);
    WAIT_UNTIL(srv.n_conns == 1 && srv.conns[0].closes == 1);
    recorder *r = &srv.conns[0];
    CHECK_EQ(r->data_len, 7);
    CHECK(memcmp(r->data, "goodbye", 7) == 0);
    CHECK_STR(r->log, "CRMX");
    CHECK_EQ(r->errors, 0);
    CHECK(!r->callback_after_close && !r->overlap);
    uint32_t crc;
    CHECK_EQ(raw_read_to_eof(fd, NULL, 0, &crc, WAIT_MS), 0);
    close(fd);
    server_stop(&srv);
    server_destroy(&srv);

    /* An echo server answers what came before the FIN, then closes. */
    server echo;
    server_start(&echo, "127.0.0.1", NULL);
    echo.echo = true;
    int fd2 = raw_connect("127.0.0.1", echo.port);
    raw_write_all(fd2, "ping", 4);
    CHECK(shutdown(fd2, SHUT_WR) == 0);
    char back[16];
    size_t n = raw_read_to_eof(fd2, back, sizeof back, &crc, WAIT_MS);
    CHECK_EQ(n, 4);
    CHECK(memcmp(back, "ping", 4) == 0);
    close(fd2);
    WAIT_UNTIL(echo.n_conns == 1 && echo.conns[0].closes == 1);
    CHECK_STR(echo.conns[0].log, "CRMX");
    CHECK_EQ(echo.conns[0].errors, 0);
    server_stop(&echo);
    server_destroy(&echo);

    /* A sack client whose raw peer ends: same order. */
    recorder cli;
    recorder_init(&cli);
    int fd3;
    sack_tcp *c = client_to_raw(&cli, NULL, &fd3);
    raw_write_all(fd3, "bye", 3);
    CHECK(shutdown(fd3, SHUT_WR) == 0);
    WAIT_UNTIL(cli.closes == 1);
    CHECK_EQ(cli.data_len, 3);
    CHECK(memcmp(cli.data, "bye", 3) == 0);
    CHECK_STR(cli.log, "CRMX");
    CHECK_EQ(cli.errors, 0);
    CHECK_EQ(raw_read_to_eof(fd3, NULL, 0, &crc, WAIT_MS), 0);
    close(fd3);
    sack_tcp_free(c);
    recorder_destroy(&cli);
}

/* One large read is delivered in chunks of at most read_buffer_size; what
 * the message callbacks send meanwhile waits (queued) and leaves in one
 * write when the read's chunks are all delivered. */
static struct {
    int callbacks, corked;
} ck;

static void cork_echo(void *ud, sack_tcp *s, const uint8_t *d, size_t n) {
    rec_on_message(ud, s, d, n);
    CHECK_OK(sack_tcp_send(s, d, n));
    size_t queued = 0;
    CHECK_OK(sack_tcp_get_queued_bytes(s, &queued));
    harness_lock();
    ck.callbacks++;
    if (queued >= n) ck.corked++; /* not written inline */
    harness_unlock();
}

TEST(data_sends_during_a_large_read_leave_together) {
    enum { TOTAL = 256 * 1024 };
    sack_tcp_options o;
    CHECK_OK(sack_tcp_options_init(&o));
    o.read_buffer_size = 1000;
    server srv;
    server_start(&srv, "127.0.0.1", &o);
    CHECK_OK(sack_tcp_on_message(srv.listener, cork_echo));
    unsigned char *sent = malloc(TOTAL);
    CHECK(sent != NULL);
    uint32_t seed = 0xC0C0A;
    prng_fill(&seed, sent, TOTAL);
    int fd = raw_connect("127.0.0.1", srv.port);
    raw_write_all(fd, sent, TOTAL);
    unsigned char *back = malloc(TOTAL);
    CHECK(back != NULL);
    raw_read_exact(fd, back, TOTAL, WAIT_MS);
    CHECK(memcmp(back, sent, TOTAL) == 0);
    WAIT_UNTIL(srv.n_conns == 1 && srv.conns[0].data_len == TOTAL);
    CHECK(srv.conns[0].max_chunk <= 1000);
    harness_lock();
    int corked = ck.corked, callbacks = ck.callbacks;
    harness_unlock();
    /* Reads of more than one chunk happened (the client wrote 256 KiB at
     * once), and their sends were held for the end of the pass. */
    if (corked == 0) FAIL("none of %d sends was held for the end of its read", callbacks);
    close(fd);
    WAIT_UNTIL(srv.conns[0].closes == 1);
    server_stop(&srv);
    server_destroy(&srv);
    free(sent);
    free(back);
}

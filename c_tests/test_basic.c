/* Echo over IPv4 and IPv6, event order, getters. */
#include <pthread.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

static void echo_over(const char *ip) {
    server srv;
    server_start(&srv, ip, NULL);
    srv.echo = true;
    recorder cli;
    recorder_init(&cli);
    sack_tcp *c = client_open(&cli, ip, srv.port, NULL);
    WAIT_UNTIL(cli.readies == 1);
    CHECK_EQ(cli.connect_status, SACK_TCP_OK);
    CHECK_OK(sack_tcp_send(c, "hello, world", 12));
    WAIT_UNTIL(cli.data_len == 12);
    CHECK(memcmp(cli.data, "hello, world", 12) == 0);

    char addr[SACK_TCP_ADDRESS_MAX];
    uint16_t port = 0;
    CHECK_OK(sack_tcp_get_remote_address(c, addr, sizeof addr));
    CHECK_STR(addr, ip);
    CHECK_OK(sack_tcp_get_remote_port(c, &port));
    CHECK_EQ(port, srv.port);
    CHECK_OK(sack_tcp_get_local_address(c, addr, sizeof addr));
    CHECK_STR(addr, ip);

    /* The server side sees the client's port as its remote port. */
    WAIT_UNTIL(srv.n_conns == 1 && srv.conns[0].readies == 1);
    uint16_t client_port = 0, peer_port = 0;
    CHECK_OK(sack_tcp_get_local_port(c, &client_port));
    CHECK_OK(sack_tcp_get_remote_port(srv.conns[0].sock, &peer_port));
    CHECK_EQ(peer_port, client_port);
    /* Its addresses come from accept and from the listener's own (bound to
     * one address), not from asking the kernel: they must still be right. */
    CHECK_OK(sack_tcp_get_remote_address(srv.conns[0].sock, addr, sizeof addr));
    CHECK_STR(addr, ip);
    CHECK_OK(sack_tcp_get_local_address(srv.conns[0].sock, addr, sizeof addr));
    CHECK_STR(addr, ip);
    CHECK_OK(sack_tcp_get_local_port(srv.conns[0].sock, &port));
    CHECK_EQ(port, srv.port);

    CHECK_OK(sack_tcp_close(c));
    WAIT_UNTIL(cli.closes == 1 && srv.conns[0].closes == 1);
    CHECK_STR(cli.log, "CRMX");
    CHECK_STR(srv.conns[0].log, "CRMX");
    CHECK(!cli.overlap && !cli.callback_after_close);
    CHECK_EQ(cli.errors, 0);
    sack_tcp_free(c);
    server_stop(&srv);
    CHECK_STR(srv.rec.log, "X");
    server_destroy(&srv);
    recorder_destroy(&cli);
}

TEST(echo_ipv4) { echo_over("127.0.0.1"); }

TEST(echo_ipv6) { echo_over("::1"); }

/* Threads of this process, from /proc (Linux). */
static int thread_count(void) {
    FILE *f = fopen("/proc/self/status", "r");
    CHECK(f != NULL);
    char line[256];
    int threads = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %d", &threads) == 1) break;
    fclose(f);
    return threads;
}

/* Shutdown with a listener and connections still open: every socket gets
 * its close callback before shutdown returns, the handles stay valid but
 * closed, and the runtime's threads are gone. */
TEST(shutdown_closes_everything_and_joins_threads) {
    int before = thread_count();
    server srv;
    server_start(&srv, "127.0.0.1", NULL);
    srv.echo = true;
    recorder cli;
    recorder_init(&cli);
    sack_tcp *c = client_open(&cli, "127.0.0.1", srv.port, NULL);
    WAIT_UNTIL(cli.readies == 1 && srv.n_conns == 1 && srv.conns[0].readies == 1);
    CHECK_OK(sack_tcp_send(c, "x", 1));
    WAIT_UNTIL(cli.data_len == 1);
    CHECK(thread_count() > before);

    CHECK_OK(sack_tcp_shutdown());
    /* No waiting: shutdown returned only after every close callback ran. */
    harness_lock();
    int client_closes = cli.closes, conn_closes = srv.conns[0].closes, listener_closes = srv.rec.closes;
    harness_unlock();
    CHECK_EQ(client_closes, 1);
    CHECK_EQ(conn_closes, 1);
    CHECK_EQ(listener_closes, 1);
    CHECK_EQ(thread_count(), before);
    CHECK_RESULT(sack_tcp_send(c, "y", 1), SACK_TCP_ERR_CLOSED);

    sack_tcp_free(c);
    sack_tcp_free(srv.listener);
    CHECK_EQ(sack_tcp_live_handles(), 0);
    server_destroy(&srv);
    recorder_destroy(&cli);
}

/* The header's version macros describe the library that is linked. */
TEST(version_macros_match_runtime) {
    CHECK_EQ(sack_tcp_version(), SACK_TCP_VERSION_NUMBER);
    CHECK_EQ(SACK_TCP_VERSION_NUMBER,
             SACK_TCP_VERSION_MAJOR * 10000 + SACK_TCP_VERSION_MINOR * 100 + SACK_TCP_VERSION_PATCH);
    CHECK_STR(sack_tcp_version_string(), SACK_TCP_VERSION_STRING);
}

typedef struct log_seen {
    int records, debug_records;
    bool from_sack_tcp, mentions_refused;
} log_seen;

static void on_log(void *ud, int32_t level, const char *target, const char *message) {
    log_seen *seen = ud;
    harness_lock();
    seen->records++;
    if (level == SACK_TCP_LOG_DEBUG) seen->debug_records++;
    if (strncmp(target, "sack_tcp", 8) == 0) seen->from_sack_tcp = true;
    if (strstr(message, "refused")) seen->mentions_refused = true;
    harness_unlock();
}

/* A refused connect is logged at debug level to the log callback, and
 * nothing arrives once the callback is removed. */
TEST(log_callback_levels) {
    uint16_t port = 0;
    int fd = raw_listen("127.0.0.1", &port, 1);
    close(fd); /* nothing listens on port now */
    log_seen seen = {0};
    CHECK_RESULT(sack_tcp_set_log_callback(on_log, &seen, 9), SACK_TCP_ERR_INVALID_ARGUMENT);
    CHECK_OK(sack_tcp_set_log_callback(on_log, &seen, SACK_TCP_LOG_DEBUG));
    recorder cli;
    recorder_init(&cli);
    sack_tcp *c = client_open(&cli, "127.0.0.1", port, NULL);
    WAIT_UNTIL(cli.closes == 1);
    CHECK_EQ(cli.connect_status, SACK_TCP_ERR_REFUSED);
    harness_lock();
    int records = seen.records;
    harness_unlock();
    CHECK(records >= 1);
    CHECK(seen.debug_records >= 1);
    CHECK(seen.from_sack_tcp);
    CHECK(seen.mentions_refused);
    sack_tcp_free(c);

    /* At WARN a refused connect (debug) is not delivered; removed, nothing. */
    CHECK_OK(sack_tcp_set_log_callback(on_log, &seen, SACK_TCP_LOG_WARN));
    recorder cli2;
    recorder_init(&cli2);
    c = client_open(&cli2, "127.0.0.1", port, NULL);
    WAIT_UNTIL(cli2.closes == 1);
    sack_tcp_free(c);
    CHECK_OK(sack_tcp_set_log_callback(NULL, NULL, SACK_TCP_LOG_TRACE));
    recorder cli3;
    recorder_init(&cli3);
    c = client_open(&cli3, "127.0.0.1", port, NULL);
    WAIT_UNTIL(cli3.closes == 1);
    sack_tcp_free(c);
    harness_lock();
    CHECK_EQ(seen.records, records);
    harness_unlock();
    recorder_destroy(&cli);
    recorder_destroy(&cli2);
    recorder_destroy(&cli3);
}

/* A connection that receives nothing for idle_timeout_ms is closed with
 * SACK_TCP_ERR_TIMED_OUT; one that talks in time is not. */
TEST(idle_timeout_closes_silent_connections) {
    sack_tcp_options o;
    CHECK_OK(sack_tcp_options_init(&o));
    o.idle_timeout_ms = 200;
    server srv;
    server_start(&srv, "127.0.0.1", &o);
    srv.echo = true;
    long long start = harness_now_ms();
    int silent = raw_connect("127.0.0.1", srv.port);
    WAIT_UNTIL(srv.n_conns == 1 && srv.conns[0].closes == 1);
    long long took = harness_now_ms() - start;
    CHECK(took >= 150);
    CHECK_EQ(srv.conns[0].errors, 1);
    CHECK_RESULT(srv.conns[0].error_code, SACK_TCP_ERR_TIMED_OUT);
    CHECK_STR(srv.conns[0].log, "CREX");
    /* The silent peer sees the connection end (reset). */
    struct pollfd p = {.fd = silent, .events = POLLIN};
    CHECK_EQ(poll(&p, 1, WAIT_MS), 1);
    char byte;
    CHECK(recv(silent, &byte, 1, 0) <= 0);
    close(silent);

    /* A peer that talks is served, and still closed once it goes quiet. */
    int talker = raw_connect("127.0.0.1", srv.port);
    raw_write_all(talker, "ping", 4);
    char echo[4];
    raw_read_exact(talker, echo, 4, WAIT_MS);
    CHECK(memcmp(echo, "ping", 4) == 0);
    WAIT_UNTIL(srv.n_conns == 2 && srv.conns[1].closes == 1);
    CHECK_RESULT(srv.conns[1].error_code, SACK_TCP_ERR_TIMED_OUT);
    CHECK_STR(srv.conns[1].log, "CRMEX");
    close(talker);
    server_stop(&srv);
    server_destroy(&srv);
}

/* A caller built against a newer header (a bigger struct) gets our
 * defaults and zeros after them, and open accepts the zeros; non-zero
 * unknown fields are refused rather than ignored. */
TEST(options_struct_versioning) {
    struct {
        sack_tcp_options known;
        unsigned char newer_fields[32];
    } bigger;
    memset(&bigger, 0xAB, sizeof bigger);
    CHECK_OK(sack_tcp_options_init_sized(&bigger.known, sizeof bigger));
    CHECK_EQ(bigger.known.struct_size, sizeof bigger);
    CHECK_EQ(bigger.known.read_buffer_size, 4096);
    for (size_t i = 0; i < sizeof bigger.newer_fields; i++) CHECK_EQ(bigger.newer_fields[i], 0);
    bigger.known.address = "127.0.0.1";
    sack_tcp *listener = NULL;
    CHECK_OK(sack_tcp_open(&bigger.known, &listener));
    CHECK_OK(sack_tcp_close(listener));
    sack_tcp_free(listener);
    bigger.newer_fields[5] = 1;
    listener = NULL;
    CHECK_RESULT(sack_tcp_open(&bigger.known, &listener), SACK_TCP_ERR_INVALID_ARGUMENT);
    CHECK(listener == NULL);
}

/* A listener without a connect callback owns its connections: nothing
 * leaks although the program never sees (or frees) their handles. */
static int echo_closes;
static void echo_back(void *ud, sack_tcp *conn, const uint8_t *data, size_t len) {
    (void)ud;
    CHECK_OK(sack_tcp_send(conn, data, len));
}
static void count_close(void *ud, sack_tcp *conn) {
    (void)ud;
    bool listener = true;
    CHECK_OK(sack_tcp_is_listener(conn, &listener));
    if (!listener) {
        harness_lock();
        echo_closes++;
        harness_unlock();
    }
}

TEST(listener_without_connect_callback_owns_connections) {
    sack_tcp_options o;
    CHECK_OK(sack_tcp_options_init(&o));
    o.address = "127.0.0.1";
    o.on_message = echo_back;
    o.on_close = count_close;
    sack_tcp *listener = NULL;
    CHECK_OK(sack_tcp_open(&o, &listener));
    uint16_t port = 0;
    CHECK_OK(sack_tcp_get_local_port(listener, &port));
    for (int i = 0; i < 3; i++) {
        int fd = raw_connect("127.0.0.1", port);
        raw_write_all(fd, "abc", 3);
        char back[3];
        raw_read_exact(fd, back, 3, WAIT_MS);
        CHECK(memcmp(back, "abc", 3) == 0);
        close(fd);
    }
    WAIT_UNTIL(echo_closes == 3);
    CHECK_OK(sack_tcp_close(listener));
    sack_tcp_free(listener);
    CHECK_OK(sack_tcp_shutdown());
    CHECK_EQ(sack_tcp_live_handles(), 0);
}

/* A single send larger than the queue limit fails at once and arms no
 * drain (none could ever follow). */
TEST(send_larger_than_limit) {
    sack_tcp_options o;
    CHECK_OK(sack_tcp_options_init(&o));
    o.send_queue_limit = 64;
    server srv;
    server_start(&srv, "127.0.0.1", NULL);
    recorder cli;
    recorder_init(&cli);
    sack_tcp *c = client_open(&cli, "127.0.0.1", srv.port, &o);
    WAIT_UNTIL(cli.readies == 1);
    char big[65] = {0};
    CHECK_RESULT(sack_tcp_send(c, big, sizeof big), SACK_TCP_ERR_QUEUE_FULL);
    CHECK(strstr(sack_tcp_last_error_message(), "can never fit") != NULL);
    size_t queued = 1;
    CHECK_OK(sack_tcp_get_queued_bytes(c, &queued));
    CHECK_EQ(queued, 0);
    CHECK_OK(sack_tcp_close(c));
    /* The server's side too: its recorder is on this stack. */
    WAIT_UNTIL(cli.closes == 1 && srv.n_conns == 1 && srv.conns[0].closes == 1);
    CHECK_EQ(cli.drains, 0);
    sack_tcp_free(c);
    server_stop(&srv);
    server_destroy(&srv);
    recorder_destroy(&cli);
}

/* sack_tcp_set_log_callback returns only once the old callback is done,
 * and refuses to wait for itself from inside the callback. */
static struct {
    bool entered, release, finished, set_returned;
    bool finished_when_set_returned;
    sack_tcp_result inside_rc;
} lw;

static void blocking_log(void *ud, int32_t level, const char *target, const char *message) {
    (void)ud;
    (void)level;
    (void)target;
    (void)message;
    sack_tcp_result rc = sack_tcp_set_log_callback(NULL, NULL, SACK_TCP_LOG_OFF);
    harness_lock();
    if (lw.entered) {
        harness_unlock();
        return; /* only the first record blocks */
    }
    lw.entered = true;
    lw.inside_rc = rc;
    long long deadline = harness_now_ms() + WAIT_MS;
    while (!lw.release && harness_wait(deadline)) {
    }
    lw.finished = true;
    harness_unlock();
}

static void *replace_log_callback(void *arg) {
    (void)arg;
    CHECK_OK(sack_tcp_set_log_callback(NULL, NULL, SACK_TCP_LOG_OFF));
    harness_lock();
    lw.set_returned = true;
    lw.finished_when_set_returned = lw.finished;
    harness_unlock();
    return NULL;
}

TEST(log_callback_replacement_waits_for_the_old_one) {
    uint16_t port = 0;
    int fd = raw_listen("127.0.0.1", &port, 1);
    close(fd);
    CHECK_OK(sack_tcp_set_log_callback(blocking_log, NULL, SACK_TCP_LOG_DEBUG));
    recorder cli;
    recorder_init(&cli);
    sack_tcp *c = client_open(&cli, "127.0.0.1", port, NULL); /* refused: logged */
    WAIT_UNTIL(lw.entered);
    CHECK_EQ(lw.inside_rc, SACK_TCP_ERR_WOULD_DEADLOCK);
    pthread_t setter;
    CHECK(pthread_create(&setter, NULL, replace_log_callback, NULL) == 0);
    harness_lock();
    lw.release = true;
    harness_unlock();
    CHECK(pthread_join(setter, NULL) == 0);
    CHECK(lw.set_returned);
    CHECK(lw.finished_when_set_returned);
    WAIT_UNTIL(cli.closes == 1);
    sack_tcp_free(c);
    recorder_destroy(&cli);
}

/* Error paths: bind conflicts, refused / unresolvable / timed-out / canceled
 * connects, resets, calls on closed handles, NULL and out-of-range
 * arguments, shutdown from a callback, runtime restarts, listener address
 * getters and reference counting. Loopback only, port 0 only, no DNS. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

/* ---- helpers local to this file ---- */

/* A value no real handle has: open must leave it untouched on failure. */
#define SENTINEL ((sack_tcp *)(uintptr_t)0x5ac4dead)

#define CHECK_MSG_HAS(needle)                                                  \
    do {                                                                       \
        const char *m_ = sack_tcp_last_error_message();                        \
        CHECK(m_ != NULL);                                                     \
        if (strstr(m_, (needle)) == NULL)                                      \
            FAIL("last error message \"%s\" does not mention \"%s\"", m_, (needle)); \
    } while (0)

/* Waits until the close callback has fired and fully returned: the
 * recorder's close callback still touches the recorder (in_callback--)
 * after `closes` is set, so a recorder must not go out of scope before. */
#define WAIT_CLOSED(r) WAIT_UNTIL((r).closes == 1 && (r).in_callback == 0)

/* sack_tcp_open must fail with `expected`, leave the out handle alone and
 * (checked later by the caller) fire no callback. */
#define CHECK_OPEN_FAILS(opts, expected)                                       \
    do {                                                                       \
        sack_tcp *h_ = SENTINEL;                                               \
        CHECK_RESULT(sack_tcp_open((opts), &h_), (expected));                  \
        if (h_ != SENTINEL) FAIL("sack_tcp_open wrote the out handle on failure"); \
    } while (0)

static socklen_t fill_addr(const char *ip, uint16_t port, struct sockaddr_storage *ss) {
    memset(ss, 0, sizeof *ss);
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(port);
        if (inet_pton(AF_INET6, ip, &a->sin6_addr) != 1) FAIL("bad ip %s", ip);
        return sizeof *a;
    }
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    if (inet_pton(AF_INET, ip, &a->sin_addr) != 1) FAIL("bad ip %s", ip);
    return sizeof *a;
}

/* Starts a non-blocking connect; returns the descriptor. */
static int start_connect(const char *ip, uint16_t port) {
    struct sockaddr_storage ss;
    socklen_t len = fill_addr(ip, port, &ss);
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) FAIL("socket: %s", strerror(errno));
    if (connect(fd, (struct sockaddr *)&ss, len) != 0 && errno != EINPROGRESS)
        FAIL("connect to %s:%u: %s", ip, (unsigned)port, strerror(errno));
    return fd;
}

/* Waits up to timeout_ms for a non-blocking connect to finish. Returns 0 on
 * success, the connect's errno on failure, ETIMEDOUT if still pending. */
static int finish_connect(int fd, int timeout_ms) {
    long long deadline = harness_now_ms() + timeout_ms;
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    for (;;) {
        long long left = deadline - harness_now_ms();
        if (left < 0) left = 0;
        int n = poll(&p, 1, (int)left);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) FAIL("poll: %s", strerror(errno));
        if (n == 0) return ETIMEDOUT;
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
            FAIL("getsockopt: %s", strerror(errno));
        return err;
    }
}

/* A non-fatal raw connect: 0 if it connected (the socket is closed again),
 * otherwise the errno (ECONNREFUSED, ...). Bounded by WAIT_MS. With fd_out
 * non-NULL a connected socket is handed back (blocking) instead of closed. */
static int try_connect(const char *ip, uint16_t port, int *fd_out) {
    struct sockaddr_storage ss;
    socklen_t len = fill_addr(ip, port, &ss);
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) FAIL("socket: %s", strerror(errno));
    int err = 0;
    if (connect(fd, (struct sockaddr *)&ss, len) != 0) {
        err = errno;
        if (err == EINPROGRESS) err = finish_connect(fd, WAIT_MS);
    }
    if (err != 0 || fd_out == NULL) {
        close(fd);
        if (err == 0 && fd_out) *fd_out = -1;
        return err;
    }
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    *fd_out = fd;
    return 0;
}

/* A loopback port nothing listens on: bound by a raw socket, then released. */
static uint16_t unused_port(const char *ip) {
    struct sockaddr_storage ss;
    socklen_t len = fill_addr(ip, 0, &ss);
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) FAIL("socket: %s", strerror(errno));
    if (bind(fd, (struct sockaddr *)&ss, len) != 0) FAIL("bind: %s", strerror(errno));
    len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) FAIL("getsockname: %s", strerror(errno));
    uint16_t port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                   : ((struct sockaddr_in *)&ss)->sin_port);
    close(fd);
    return port;
}

/* A raw listener whose accept queue is full, so further SYNs are dropped
 * (Linux: backlog 0 admits one established connection; a SYN arriving when
 * the queue is full is dropped, and the client retries it). */
#define FULL_MAX_FDS 8
typedef struct full_listener {
    int lfd;
    uint16_t port;
    int fds[FULL_MAX_FDS];
    int n_fds;
} full_listener;

static void full_listener_start(full_listener *f) {
    memset(f, 0, sizeof *f);
    f->port = 0;
    f->lfd = raw_listen("127.0.0.1", &f->port, 0);
    for (;;) {
        if (f->n_fds == FULL_MAX_FDS)
            FAIL("accept queue of a backlog-0 listener still admits connections after %d", f->n_fds);
        int fd = start_connect("127.0.0.1", f->port);
        f->fds[f->n_fds++] = fd;
        /* The first connection always fits, however slow the machine; after
         * that a connect still pending after 200 ms had its SYN dropped. */
        int err = finish_connect(fd, f->n_fds == 1 ? WAIT_MS : 200);
        if (err == ETIMEDOUT && f->n_fds > 1) return; /* the queue is full */
        if (err != 0) FAIL("filling the accept queue: connect %d: %s", f->n_fds, strerror(err));
    }
}

static void full_listener_stop(full_listener *f) {
    for (int i = 0; i < f->n_fds; i++) close(f->fds[i]);
    close(f->lfd);
}

/* Opens a listener with recorder callbacks on address:port. */
static sack_tcp_result listener_open(recorder *r, const sack_tcp_options *base, const char *address,
                                     int port, sack_tcp **out) {
    sack_tcp_options o;
    if (base) {
        o = *base;
    } else {
        CHECK_OK(sack_tcp_options_init(&o));
    }
    recorder_options(r, &o);
    o.address = address;
    o.port = port;
    return sack_tcp_open(&o, out);
}

/* Closes a listener opened by listener_open, waits for close, frees it. */
static void listener_close(recorder *r, sack_tcp *l) {
    CHECK_OK(sack_tcp_close(l));
    WAIT_CLOSED(*r);
    CHECK_STR(r->log, "X");
    sack_tcp_free(l);
}

/* Waits for every connection the server accepted to close. */
static void server_wait_conns_closed(server *s) {
    for (int i = 0;; i++) {
        harness_lock();
        int n = s->n_conns;
        harness_unlock();
        if (i >= n) break;
        WAIT_CLOSED(s->conns[i]);
    }
}

/* server_destroy, after every callback touching the server has returned. */
static void server_settle_destroy(server *s) {
    WAIT_UNTIL(s->rec.in_callback == 0);
    for (int i = 0;; i++) {
        harness_lock();
        int n = s->n_conns;
        harness_unlock();
        if (i >= n) break;
        WAIT_UNTIL(s->conns[i].in_callback == 0);
    }
    server_destroy(s);
}

/* Is there a TCP socket in TIME_WAIT whose local port is `port`? (Linux
 * /proc/net/tcp, a diagnostic for the reuse_address test.) */
static bool time_wait_on_port(uint16_t port) {
    FILE *f = fopen("/proc/net/tcp", "r");
    if (!f) return false;
    char line[512];
    bool found = false;
    if (!fgets(line, sizeof line, f)) {
        fclose(f);
        return false;
    }
    while (fgets(line, sizeof line, f)) {
        unsigned local_port = 0, state = 0;
        char local_ip[64], remote[64];
        if (sscanf(line, " %*d: %63[0-9A-Fa-f]:%x %63s %x", local_ip, &local_port, remote, &state) == 4 &&
            local_port == port && state == 0x06)
            found = true;
    }
    fclose(f);
    return found;
}

/* Checks sack_tcp_live_handles() once every task has ended: a socket
 * object is dropped when its task finishes, which notifies nobody, so this
 * joins the tasks with sack_tcp_shutdown (the next open restarts the
 * runtime) instead of polling. */
static void wait_live_handles(size_t n) {
    CHECK_OK(sack_tcp_shutdown());
    CHECK_EQ(sack_tcp_live_handles(), n);
}

/* Client + echo round trip through an echo server; closes and frees. */
static void echo_round_trip(server *srv, const char *ip) {
    recorder cli;
    recorder_init(&cli);
    sack_tcp *c = client_open(&cli, ip, srv->port, NULL);
    WAIT_UNTIL(cli.readies == 1);
    CHECK_EQ(cli.connect_status, SACK_TCP_OK);
    CHECK_OK(sack_tcp_send(c, "ping", 4));
    WAIT_UNTIL(cli.data_len == 4);
    CHECK(memcmp(cli.data, "ping", 4) == 0);
    CHECK_OK(sack_tcp_close(c));
    WAIT_CLOSED(cli);
    CHECK_STR(cli.log, "CRMX");
    sack_tcp_free(c);
    recorder_destroy(&cli);
}

/* ---- 1. bind conflicts ---- */

TEST(err_address_in_use) {
    sack_tcp_options o;

    /* Plain: a second listener on the same port is refused at open. */
    recorder r1;
    recorder_init(&r1);
    sack_tcp *l1 = NULL;
    CHECK_OK(listener_open(&r1, NULL, "127.0.0.1", 0, &l1));
    uint16_t port = 0;
    CHECK_OK(sack_tcp_get_local_port(l1, &port));
    CHECK(port != 0);
    recorder r2;
    recorder_init(&r2);
    CHECK_OK(sack_tcp_options_init(&o));
    recorder_options(&r2, &o);
    o.address = "127.0.0.1";
    o.port = port;
    CHECK_OPEN_FAILS(&o, SACK_TCP_ERR_ADDRESS_IN_USE);
    /* Also with the port inside the address string. */
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", (unsigned)port);
    o.address = addr;
    o.port = 0;
    CHECK_OPEN_FAILS(&o, SACK_TCP_ERR_ADDRESS_IN_USE);
    /* reuse_port on the newcomer alone is not enough. */
    o.reuse_port = true;
    CHECK_OPEN_FAILS(&o, SACK_TCP_ERR_ADDRESS_IN_USE);
    listener_close(&r1, l1);

    /* reuse_port on both: the second bind succeeds. */
    CHECK_OK(sack_tcp_options_init(&o));
    o.reuse_port = true;
    recorder ra, rb;
    recorder_init(&ra);
    recorder_init(&rb);
    sack_tcp *la = NULL, *lb = NULL;
    CHECK_OK(listener_open(&ra, &o, "127.0.0.1", 0, &la));
    uint16_t rport = 0, rport2 = 0;
    CHECK_OK(sack_tcp_get_local_port(la, &rport));
    CHECK_OK(listener_open(&rb, &o, "127.0.0.1", rport, &lb));
    CHECK_OK(sack_tcp_get_local_port(lb, &rport2));
    CHECK_EQ(rport2, rport);
    listener_close(&rb, lb);
    listener_close(&ra, la);

    /* reuse_address: put the server side of a connection in TIME_WAIT.
     * (On Linux the TIME_WAIT socket inherits SO_REUSEADDR from the
     * listener, and both must have it, so the original listener sets it.) */
    CHECK_OK(sack_tcp_options_init(&o));
    o.reuse_address = true;
    server srv;
    server_start(&srv, "127.0.0.1", &o);
    uint16_t tw_port = srv.port;
    int fd = raw_connect("127.0.0.1", tw_port);
    WAIT_UNTIL(srv.n_conns == 1 && srv.conns[0].readies == 1);
    /* The server closes first (its FIN goes out first). */
    CHECK_OK(sack_tcp_close(srv.conns[0].sock));
    CHECK_EQ(raw_read_to_eof(fd, NULL, 0, NULL, WAIT_MS), 0);
    close(fd);
    WAIT_CLOSED(srv.conns[0]);
    CHECK_STR(srv.conns[0].log, "CRX");
    server_stop(&srv);
    server_settle_destroy(&srv);
    if (!time_wait_on_port(tw_port))
        FAIL("precondition: no TIME_WAIT socket on server port %u after a server-first close",
             (unsigned)tw_port);

    recorder rt;
    recorder_init(&rt);
    CHECK_OK(sack_tcp_options_init(&o));
    recorder_options(&rt, &o);
    o.address = "127.0.0.1";
    o.port = tw_port;
    CHECK_OPEN_FAILS(&o, SACK_TCP_ERR_ADDRESS_IN_USE);
    o.reuse_address = true;
    sack_tcp *lt = NULL;
    CHECK_OK(sack_tcp_open(&o, &lt));
    uint16_t got = 0;
    CHECK_OK(sack_tcp_get_local_port(lt, &got));
    CHECK_EQ(got, tw_port);
    listener_close(&rt, lt);

    /* None of the failed opens fired a callback. */
    CHECK_EQ(r2.log_len, 0);
    recorder_destroy(&r1);
    recorder_destroy(&r2);
    recorder_destroy(&ra);
    recorder_destroy(&rb);
    recorder_destroy(&rt);
}

/* ---- 2. refused ---- */

TEST(err_connect_refused) {
    uint16_t port = unused_port("127.0.0.1");
    recorder cli;
    recorder_init(&cli);
    sack_tcp *c = client_open(&cli, "127.0.0.1", port, NULL);
    WAIT_CLOSED(cli);
    CHECK_RESULT(cli.connect_status, SACK_TCP_ERR_REFUSED);
    CHECK_STR(cli.log, "CX");
    CHECK_EQ(cli.readies, 0);
    CHECK_EQ(cli.errors, 0);
    CHECK(!cli.overlap && !cli.callback_after_close);
    CHECK(cli.sock == c);
    sack_tcp_free(c);

    /* The same over IPv6. */
    uint16_t port6 = unused_port("::1");
    recorder cli6;
    recorder_init(&cli6);
    sack_tcp *c6 = client_open(&cli6, "::1", port6, NULL);
    WAIT_CLOSED(cli6);
    CHECK_RESULT(cli6.connect_status, SACK_TCP_ERR_REFUSED);
    CHECK_STR(cli6.log, "CX");
    sack_tcp_free(c6);
    recorder_destroy(&cli);
    recorder_destroy(&cli6);
}

/* ---- 3. resolution failure without any query ---- */

typedef struct msg_recorder {
    recorder rec; /* first: the recorder callbacks take the same pointer */
    char message[1024];
    bool message_null;
} msg_recorder;

static void msg_on_connect(void *ud, sack_tcp *s, sack_tcp_result status) {
    msg_recorder *m = ud;
    const char *text = sack_tcp_last_error_message();
    harness_lock();
    if (text == NULL) {
        m->message_null = true;
    } else {
        snprintf(m->message, sizeof m->message, "%s", text);
    }
    harness_unlock();
    rec_on_connect(ud, s, status);
}

TEST(err_resolve_failure) {
    /* A 70-octet label: glibc cannot encode the DNS query, so getaddrinfo
     * fails locally without sending anything. */
    char host[128];
    memset(host, 'a', 70);
    strcpy(host + 70, ".invalid");
    char target[160];
    snprintf(target, sizeof target, "%s:80", host);

    msg_recorder m;
    memset(&m, 0, sizeof m);
    recorder_init(&m.rec);
    sack_tcp_options o;
    CHECK_OK(sack_tcp_options_init(&o));
    recorder_options(&m.rec, &o);
    o.on_connect = msg_on_connect;
    o.to_address = target;
    sack_tcp *c = NULL;
    CHECK_OK(sack_tcp_open(&o, &c));
    WAIT_CLOSED(m.rec);
    CHECK_RESULT(m.rec.connect_status, SACK_TCP_ERR_RESOLVE);
    CHECK_STR(m.rec.log, "CX");
    CHECK(!m.message_null);
    if (strstr(m.message, host) == NULL)
        FAIL("connect-callback error message \"%s\" does not mention the host", m.message);
    sack_tcp_free(c);

    /* The same with the port in to_port. */
    msg_recorder m2;
    memset(&m2, 0, sizeof m2);
    recorder_init(&m2.rec);
    CHECK_OK(sack_tcp_options_init(&o));
    recorder_options(&m2.rec, &o);
    o.on_connect = msg_on_connect;
    o.to_address = host;
    o.to_port = 80;
    c = NULL;
    CHECK_OK(sack_tcp_open(&o, &c));
    WAIT_CLOSED(m2.rec);
    CHECK_RESULT(m2.rec.connect_status, SACK_TCP_ERR_RESOLVE);
    CHECK_STR(m2.rec.log, "CX");
    if (strstr(m2.message, host) == NULL)
        FAIL("connect-callback error message \"%s\" does not mention the host", m2.message);
    sack_tcp_free(c);
    recorder_destroy(&m.rec);
    recorder_destroy(&m2.rec);
}

/* ---- 4. connect timeout ---- */

typedef struct timed_recorder {
    recorder rec;
    long long connect_at;
} timed_recorder;

static void timed_on_connect(void *ud, sack_tcp *s, sack_tcp_result status) {
    timed_recorder *t = ud;
    long long now = harness_now_ms();
    harness_lock();
    t->connect_at = now;
    harness_unlock();
    rec_on_connect(ud, s, status);
}

TEST(err_connect_timeout) {
    full_listener f;
    full_listener_start(&f);

    timed_recorder t;
    memset(&t, 0, sizeof t);
    recorder_init(&t.rec);
    sack_tcp_options o;
    CHECK_OK(sack_tcp_options_init(&o));
    o.connect_timeout_ms = 300;
    recorder_options(&t.rec, &o);
    o.on_connect = timed_on_connect;
    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%u", (unsigned)f.port);
    o.to_address = target;
    long long start = harness_now_ms();
    sack_tcp *c = NULL;
    CHECK_OK(sack_tcp_open(&o, &c));
    WAIT_CLOSED(t.rec);
    CHECK_RESULT(t.rec.connect_status, SACK_TCP_ERR_TIMED_OUT);
    CHECK_STR(t.rec.log, "CX");
    long long elapsed = t.connect_at - start;
    if (elapsed < 250 || elapsed > 5000)
        FAIL("connect timed out after %lld ms, expected about 300", elapsed);
    sack_tcp_free(c);
    full_listener_stop(&f);
    recorder_destroy(&t.rec);
}

/* ---- 5. close while connecting ---- */

TEST(err_close_while_connecting) {
    full_listener f;
    full_listener_start(&f);
    recorder cli;
    recorder_init(&cli);
    sack_tcp *c = client_open(&cli, "127.0.0.1", f.port, NULL);
    /* Sending while connecting queues (and is discarded by the cancel). */
    CHECK_OK(sack_tcp_send(c, "queued", 6));
    CHECK_OK(sack_tcp_close(c));
    WAIT_CLOSED(cli);
    CHECK_RESULT(cli.connect_status, SACK_TCP_ERR_CANCELED);
    CHECK_STR(cli.log, "CX");
    CHECK_EQ(cli.errors, 0);
    CHECK_RESULT(sack_tcp_send(c, "x", 1), SACK_TCP_ERR_CLOSED);
    sack_tcp_free(c);
    full_listener_stop(&f);
    recorder_destroy(&cli);
}

/* ---- 6. peer resets ---- */

TEST(err_peer_reset) {
    /* A raw client resets its connection to a sack server. */
    server srv;
    server_start(&srv, "127.0.0.1", NULL);
    int fd = raw_connect("127.0.0.1", srv.port);
    WAIT_UNTIL(srv.n_conns == 1 && srv.conns[0].readies == 1);
    raw_reset(fd);
    WAIT_CLOSED(srv.conns[0]);
    CHECK_RESULT(srv.conns[0].error_code, SACK_TCP_ERR_RESET);
    CHECK_EQ(srv.conns[0].errors, 1);
    CHECK_STR(srv.conns[0].log, "CREX");
    CHECK(!srv.conns[0].callback_after_close && !srv.conns[0].overlap);
    server_stop(&srv);
    server_settle_destroy(&srv);

    /* A sack client's raw peer (an accepted socket) resets. */
    uint16_t port = 0;
    int lfd = raw_listen("127.0.0.1", &port, 16);
    recorder cli;
    recorder_init(&cli);
    sack_tcp *c = client_open(&cli, "127.0.0.1", port, NULL);
    int afd = raw_accept(lfd, WAIT_MS);
    WAIT_UNTIL(cli.readies == 1);
    raw_reset(afd);
    WAIT_CLOSED(cli);
    CHECK_RESULT(cli.error_code, SACK_TCP_ERR_RESET);
    CHECK_EQ(cli.errors, 1);
    CHECK_STR(cli.log, "CREX");
    CHECK_RESULT(sack_tcp_send(c, "x", 1), SACK_TCP_ERR_CLOSED);
    sack_tcp_free(c);
    close(lfd);
    recorder_destroy(&cli);
}

/* ---- 7. calls on closing and closed handles ---- */

TEST(err_send_after_close) {
    uint16_t port = 0;
    int lfd = raw_listen("127.0.0.1", &port, 16);
    recorder cli;
    recorder_init(&cli);
    sack_tcp *c = client_open(&cli, "127.0.0.1", port, NULL);
    int afd = raw_accept(lfd, WAIT_MS);
    WAIT_UNTIL(cli.readies == 1);

    /* The raw peer never sends its FIN until told, so close cannot fire
     * before it: these calls see a socket that is closing, not closed. */
    CHECK_OK(sack_tcp_close(c));
    CHECK_RESULT(sack_tcp_send(c, "x", 1), SACK_TCP_ERR_CLOSED);
    CHECK_OK(sack_tcp_close(c)); /* again while closing: harmless */
    harness_lock();
    int closes = cli.closes;
    harness_unlock();
    CHECK_EQ(closes, 0);
    CHECK_EQ(raw_read_to_eof(afd, NULL, 0, NULL, WAIT_MS), 0);
    close(afd);
    WAIT_CLOSED(cli);
    CHECK_STR(cli.log, "CRX");

    /* After close has fired. */
    CHECK_RESULT(sack_tcp_send(c, "x", 1), SACK_TCP_ERR_CLOSED);
    CHECK_RESULT(sack_tcp_send(c, NULL, 0), SACK_TCP_ERR_CLOSED);
    CHECK_RESULT(sack_tcp_close(c), SACK_TCP_ERR_CLOSED);
    CHECK_RESULT(sack_tcp_set_read_strings(c, true), SACK_TCP_ERR_CLOSED);
    CHECK_RESULT(sack_tcp_on_message(c, rec_on_message), SACK_TCP_ERR_CLOSED);
    CHECK_RESULT(sack_tcp_on_message(c, NULL), SACK_TCP_ERR_CLOSED);
    CHECK_RESULT(sack_tcp_on_connect(c, rec_on_connect), SACK_TCP_ERR_CLOSED);
    CHECK_RESULT(sack_tcp_on_ready(c, rec_on_ready), SACK_TCP_ERR_CLOSED);
    CHECK_RESULT(sack_tcp_on_close(c, rec_on_close), SACK_TCP_ERR_CLOSED);
    CHECK_RESULT(sack_tcp_on_error(c, rec_on_error), SACK_TCP_ERR_CLOSED);
    CHECK_RESULT(sack_tcp_on_drain(c, rec_on_drain), SACK_TCP_ERR_CLOSED);
    CHECK_RESULT(sack_tcp_set_user_data(c, NULL), SACK_TCP_ERR_CLOSED);
    size_t queued = 12345;
    CHECK_RESULT(sack_tcp_get_queued_bytes(c, &queued), SACK_TCP_ERR_CLOSED);
    CHECK_EQ(queued, 12345);
    /* A connection's addresses outlive it, for logging who it was. */
    char addr[SACK_TCP_ADDRESS_MAX] = "untouched";
    CHECK_OK(sack_tcp_get_local_address(c, addr, sizeof addr));
    CHECK_STR(addr, "127.0.0.1");
    CHECK_OK(sack_tcp_get_remote_address(c, addr, sizeof addr));
    CHECK_STR(addr, "127.0.0.1");
    /* get_user_data works on closed handles and still has the recorder. */
    void *ud = NULL;
    CHECK_OK(sack_tcp_get_user_data(c, &ud));
    CHECK(ud == &cli);
    /* Nothing more came. */
    CHECK_STR(cli.log, "CRX");
    CHECK(!cli.callback_after_close);
    sack_tcp_free(c);
    close(lfd);
    recorder_destroy(&cli);
}

/* ---- 8. a closed listener accepts nothing ---- */

static void check_listener_refuses_after_close(const char *address, const char **ips, int n_ips) {
    /* address NULL listens on every address; printf's %s must never see NULL. */
    const char *shown = address ? address : "(any)";
    server srv;
    server_start(&srv, address, NULL);
    size_t count = 0;
    CHECK_OK(sack_tcp_get_ports(srv.listener, NULL, 0, &count));
    CHECK(count >= 1 && count <= 8);
    uint16_t ports[8];
    size_t count2 = 0;
    CHECK_OK(sack_tcp_get_ports(srv.listener, ports, 8, &count2));
    CHECK_EQ(count2, count);
    for (size_t i = 0; i < count; i++) CHECK(ports[i] != 0);
    CHECK_EQ(ports[0], srv.port);

    /* Before the close every address accepts. */
    int accepted = 0;
    for (int k = 0; k < n_ips; k++) {
        int fd = -1;
        int err = try_connect(ips[k], srv.port, &fd);
        if (err != 0) FAIL("connect to open listener %s at %s:%u: %s", shown, ips[k],
                           (unsigned)srv.port, strerror(err));
        accepted++;
        WAIT_UNTIL(srv.n_conns == accepted && srv.conns[accepted - 1].readies == 1);
        close(fd);
    }
    server_wait_conns_closed(&srv);
    server_stop(&srv);

    for (int k = 0; k < n_ips; k++) {
        for (size_t i = 0; i < count; i++) {
            int err = try_connect(ips[k], ports[i], NULL);
            if (err != ECONNREFUSED)
                FAIL("after close, connect to %s:%u (listener \"%s\") gave %s, expected ECONNREFUSED",
                     ips[k], (unsigned)ports[i], shown, err ? strerror(err) : "success");
        }
    }
    harness_lock();
    int n = srv.n_conns;
    harness_unlock();
    CHECK_EQ(n, accepted);
    server_settle_destroy(&srv);
}

TEST(err_closed_listener_accepts_nothing) {
    const char *v4[] = {"127.0.0.1"};
    check_listener_refuses_after_close("localhost", v4, 1);
    check_listener_refuses_after_close("127.0.0.1", v4, 1);
    const char *v6[] = {"::1"};
    check_listener_refuses_after_close("::1", v6, 1);
    const char *both[] = {"127.0.0.1", "::1"};
    check_listener_refuses_after_close(NULL, both, 2);
}

/* ---- 9. NULL and out-of-range arguments ---- */

TEST(err_null_and_invalid_args) {
    /* Init functions. */
    CHECK_RESULT(sack_tcp_options_init_sized(NULL, sizeof(sack_tcp_options)), SACK_TCP_ERR_NULL_POINTER);
    /* A size below the first published layout is refused. */
    {
        sack_tcp_options small;
        CHECK_RESULT(sack_tcp_options_init_sized(&small, 8), SACK_TCP_ERR_INVALID_ARGUMENT);
    }
    CHECK_MSG_HAS("options");
    CHECK_RESULT(sack_tcp_runtime_options_init_sized(NULL, sizeof(sack_tcp_runtime_options)), SACK_TCP_ERR_NULL_POINTER);
    sack_tcp_free(NULL); /* a no-op */

    /* Every failed open below uses this recorder: none may fire. */
    recorder bad;
    recorder_init(&bad);
    sack_tcp_options o;
    sack_tcp *h = SENTINEL;
    CHECK_OK(sack_tcp_options_init(&o));
    recorder_options(&bad, &o);
    CHECK_RESULT(sack_tcp_open(NULL, &h), SACK_TCP_ERR_NULL_POINTER);
    CHECK(h == SENTINEL);
    CHECK_RESULT(sack_tcp_open(&o, NULL), SACK_TCP_ERR_NULL_POINTER);

    /* Out-of-range values. */
    sack_tcp_options base;
    CHECK_OK(sack_tcp_options_init(&base));
    recorder_options(&bad, &base);
    base.address = "127.0.0.1";

    o = base;
    o.family = 5;
    CHECK_OPEN_FAILS(&o, SACK_TCP_ERR_INVALID_ARGUMENT);
    CHECK_MSG_HAS("family");
    o = base;
    o.port = 70000;
    CHECK_OPEN_FAILS(&o, SACK_TCP_ERR_INVALID_ARGUMENT);
    CHECK_MSG_HAS("port");
    o = base;
    o.port = -1;
    CHECK_OPEN_FAILS(&o, SACK_TCP_ERR_INVALID_ARGUMENT);
    CHECK_MSG_HAS("port");
    o = base;
    o.address = NULL;
    o.to_address = "127.0.0.1";
    o.to_port = 70000;
    CHECK_OPEN_FAILS(&o, SACK_TCP_ERR_INVALID_ARGUMENT);
    CHECK_MSG_HAS("to_port");
    o = base;
    o.read_buffer_size = 8;
    CHECK_OPEN_FAILS(&o, SACK_TCP_ERR_INVALID_ARGUMENT);
    {
        const char *m = sack_tcp_last_error_message();
        if (!strstr(m, "read_buffer_size") && !strstr(m, "read buffer size"))
            FAIL("last error message \"%s\" does not name the read buffer size", m);
    }
    o = base;
    o.read_buffer_size = (16u << 20) + 1;
    CHECK_OPEN_FAILS(&o, SACK_TCP_ERR_INVALID_ARGUMENT);
    o = base;
    o.send_queue_limit = 100;
    o.send_queue_low_mark = 100; /* must be below the limit */
    CHECK_OPEN_FAILS(&o, SACK_TCP_ERR_INVALID_ARGUMENT);
    o = base;
    o.struct_size = 0; /* not initialised */
    CHECK_OPEN_FAILS(&o, SACK_TCP_ERR_INVALID_ARGUMENT);
    CHECK_MSG_HAS("struct_size");
    sack_tcp_options zero;
    memset(&zero, 0, sizeof zero);
    CHECK_OPEN_FAILS(&zero, SACK_TCP_ERR_INVALID_ARGUMENT);

    /* Bad address strings, as a listener address and as a target. */
    const char *bad_addresses[] = {"[::1", "1.2.3.4:99999", "a b"};
    for (size_t i = 0; i < sizeof bad_addresses / sizeof *bad_addresses; i++) {
        o = base;
        o.address = bad_addresses[i];
        CHECK_OPEN_FAILS(&o, SACK_TCP_ERR_BAD_ADDRESS);
    }
    /* Targets stay on loopback even if the parser were wrong. */
    const char *bad_targets[] = {"[::1", "127.0.0.1:99999", "a b", "[::1]:99999"};
    for (size_t i = 0; i < sizeof bad_targets / sizeof *bad_targets; i++) {
        o = base;
        o.address = NULL;
        o.to_address = bad_targets[i];
        CHECK_OPEN_FAILS(&o, SACK_TCP_ERR_BAD_ADDRESS);
    }
    /* A target with no port anywhere. */
    o = base;
    o.address = NULL;
    o.to_address = "127.0.0.1";
    CHECK_OPEN_FAILS(&o, SACK_TCP_ERR_BAD_ADDRESS);

    /* Options that do not apply to the kind of socket. */
    o = base;
    o.address = NULL;
    o.to_address = "127.0.0.1:9";
    o.backlog = 5;
    CHECK_OPEN_FAILS(&o, SACK_TCP_ERR_NOT_APPLICABLE);
    o = base;
    o.to_port = 80;
    CHECK_OPEN_FAILS(&o, SACK_TCP_ERR_NOT_APPLICABLE);
    o = base;
    o.connect_timeout_ms = 100;
    CHECK_OPEN_FAILS(&o, SACK_TCP_ERR_NOT_APPLICABLE);

    /* Real handles for the per-function checks. */
    server srv;
    server_start(&srv, "127.0.0.1", NULL);
    srv.echo = true;
    recorder cli;
    recorder_init(&cli);
    sack_tcp *c = client_open(&cli, "127.0.0.1", srv.port, NULL);
    WAIT_UNTIL(cli.readies == 1);
    sack_tcp *l = srv.listener;

    CHECK_RESULT(sack_tcp_send(NULL, "x", 1), SACK_TCP_ERR_NULL_POINTER);
    CHECK_RESULT(sack_tcp_send(c, NULL, 5), SACK_TCP_ERR_NULL_POINTER);
    CHECK_OK(sack_tcp_send(c, NULL, 0));
    CHECK_OK(sack_tcp_send(c, "", 0));
    CHECK_RESULT(sack_tcp_close(NULL), SACK_TCP_ERR_NULL_POINTER);
    CHECK_RESULT(sack_tcp_abort(NULL), SACK_TCP_ERR_NULL_POINTER);
    CHECK_RESULT(sack_tcp_retain(NULL), SACK_TCP_ERR_NULL_POINTER);
    CHECK_RESULT(sack_tcp_on_connect(NULL, rec_on_connect), SACK_TCP_ERR_NULL_POINTER);
    CHECK_RESULT(sack_tcp_on_ready(NULL, rec_on_ready), SACK_TCP_ERR_NULL_POINTER);
    CHECK_RESULT(sack_tcp_on_message(NULL, rec_on_message), SACK_TCP_ERR_NULL_POINTER);
    CHECK_RESULT(sack_tcp_on_close(NULL, rec_on_close), SACK_TCP_ERR_NULL_POINTER);
    CHECK_RESULT(sack_tcp_on_error(NULL, rec_on_error), SACK_TCP_ERR_NULL_POINTER);
    CHECK_RESULT(sack_tcp_on_drain(NULL, rec_on_drain), SACK_TCP_ERR_NULL_POINTER);
    CHECK_RESULT(sack_tcp_set_user_data(NULL, &cli), SACK_TCP_ERR_NULL_POINTER);
    CHECK_RESULT(sack_tcp_set_read_strings(NULL, true), SACK_TCP_ERR_NULL_POINTER);

    void *ud = NULL;
    bool flag = false;
    size_t sz = 0;
    uint16_t port = 0;
    char buf[SACK_TCP_ADDRESS_MAX];
    CHECK_RESULT(sack_tcp_get_user_data(NULL, &ud), SACK_TCP_ERR_NULL_POINTER);
    CHECK_RESULT(sack_tcp_get_user_data(c, NULL), SACK_TCP_ERR_NULL_POINTER);
    CHECK_RESULT(sack_tcp_get_read_strings(NULL, &flag), SACK_TCP_ERR_NULL_POINTER);
    CHECK_RESULT(sack_tcp_get_read_strings(c, NULL), SACK_TCP_ERR_NULL_POINTER);
    CHECK_RESULT(sack_tcp_get_queued_bytes(NULL, &sz), SACK_TCP_ERR_NULL_POINTER);
    CHECK_RESULT(sack_tcp_get_queued_bytes(c, NULL), SACK_TCP_ERR_NULL_POINTER);
    CHECK_RESULT(sack_tcp_is_listener(NULL, &flag), SACK_TCP_ERR_NULL_POINTER);
    CHECK_RESULT(sack_tcp_is_listener(c, NULL), SACK_TCP_ERR_NULL_POINTER);
    CHECK_RESULT(sack_tcp_get_local_address(NULL, buf, sizeof buf), SACK_TCP_ERR_NULL_POINTER);
    CHECK_RESULT(sack_tcp_get_local_address(c, NULL, sizeof buf), SACK_TCP_ERR_NULL_POINTER);
    CHECK_RESULT(sack_tcp_get_local_port(NULL, &port), SACK_TCP_ERR_NULL_POINTER);
    CHECK_RESULT(sack_tcp_get_local_port(c, NULL), SACK_TCP_ERR_NULL_POINTER);
    CHECK_RESULT(sack_tcp_get_remote_address(NULL, buf, sizeof buf), SACK_TCP_ERR_NULL_POINTER);
    CHECK_RESULT(sack_tcp_get_remote_address(c, NULL, sizeof buf), SACK_TCP_ERR_NULL_POINTER);
    CHECK_RESULT(sack_tcp_get_remote_port(NULL, &port), SACK_TCP_ERR_NULL_POINTER);
    CHECK_RESULT(sack_tcp_get_remote_port(c, NULL), SACK_TCP_ERR_NULL_POINTER);
    CHECK_RESULT(sack_tcp_get_ports(NULL, NULL, 0, &sz), SACK_TCP_ERR_NULL_POINTER);
    CHECK_RESULT(sack_tcp_get_ports(l, NULL, 0, NULL), SACK_TCP_ERR_NULL_POINTER);

    /* Operations that do not apply. */
    CHECK_RESULT(sack_tcp_send(l, "x", 1), SACK_TCP_ERR_NOT_APPLICABLE);
    sz = 777;
    CHECK_RESULT(sack_tcp_get_ports(c, NULL, 0, &sz), SACK_TCP_ERR_NOT_APPLICABLE);
    CHECK_EQ(sz, 777);
    CHECK_RESULT(sack_tcp_get_queued_bytes(l, &sz), SACK_TCP_ERR_NOT_APPLICABLE);
    CHECK_RESULT(sack_tcp_get_remote_address(l, buf, sizeof buf), SACK_TCP_ERR_NOT_APPLICABLE);
    CHECK_RESULT(sack_tcp_get_remote_port(l, &port), SACK_TCP_ERR_NOT_APPLICABLE);

    /* get_ports with too little room: nothing written. */
    uint16_t ports[2] = {4242, 4242};
    sz = 777;
    CHECK_RESULT(sack_tcp_get_ports(l, ports, 0, &sz), SACK_TCP_ERR_INVALID_ARGUMENT);
    CHECK_EQ(sz, 777);
    CHECK_EQ(ports[0], 4242);
    CHECK_OK(sack_tcp_get_ports(l, ports, 2, &sz));
    CHECK_EQ(sz, 1);
    CHECK_EQ(ports[0], srv.port);
    CHECK_EQ(ports[1], 4242);

    /* Getters with good arguments on the same handles still work. */
    CHECK_OK(sack_tcp_is_listener(l, &flag));
    CHECK(flag);
    CHECK_OK(sack_tcp_is_listener(c, &flag));
    CHECK(!flag);

    /* Error names and descriptions. */
    CHECK(sack_tcp_strerror(12345) != NULL);
    CHECK_STR(sack_tcp_strerror(12345), "unknown error code");
    CHECK(sack_tcp_strerror(-20) != NULL);
    CHECK(sack_tcp_error_name(12345) != NULL);
    CHECK(sack_tcp_error_name(-20) != NULL);
    CHECK(sack_tcp_error_name(-20)[0] != '\0');
    CHECK_STR(sack_tcp_error_name(SACK_TCP_ERR_REFUSED), "SACK_TCP_ERR_REFUSED");
    CHECK_STR(sack_tcp_error_name(SACK_TCP_OK), "SACK_TCP_OK");
    for (int code = SACK_TCP_OK; code >= SACK_TCP_ERR_PANIC; code--) {
        CHECK(sack_tcp_strerror(code) != NULL && sack_tcp_strerror(code)[0] != '\0');
        CHECK(strcmp(sack_tcp_strerror(code), "unknown error code") != 0);
    }
    CHECK(sack_tcp_last_error_message() != NULL);

    /* A round trip acts as a barrier: by now a stray callback of a failed
     * open would have had every chance to run. */
    CHECK_OK(sack_tcp_send(c, "abc", 3));
    WAIT_UNTIL(cli.data_len == 3);
    echo_round_trip(&srv, "127.0.0.1");
    CHECK_EQ(bad.log_len, 0);

    CHECK_OK(sack_tcp_close(c));
    WAIT_CLOSED(cli);
    sack_tcp_free(c);
    server_wait_conns_closed(&srv);
    server_stop(&srv);
    server_settle_destroy(&srv);
    recorder_destroy(&cli);
    recorder_destroy(&bad);
}

/* ---- 10. shutdown from a callback ---- */

typedef struct shutdown_recorder {
    recorder rec; /* first: the recorder callbacks take the same pointer */
    sack_tcp_result in_ready, in_message, in_close;
} shutdown_recorder;

static void sd_on_ready(void *ud, sack_tcp *s) {
    shutdown_recorder *r = ud;
    sack_tcp_result rc = sack_tcp_shutdown();
    harness_lock();
    r->in_ready = rc;
    harness_unlock();
    rec_on_ready(ud, s);
}

static void sd_on_message(void *ud, sack_tcp *s, const uint8_t *data, size_t len) {
    shutdown_recorder *r = ud;
    sack_tcp_result rc = sack_tcp_shutdown();
    harness_lock();
    r->in_message = rc;
    harness_unlock();
    rec_on_message(ud, s, data, len);
}

static void sd_on_close(void *ud, sack_tcp *s) {
    shutdown_recorder *r = ud;
    sack_tcp_result rc = sack_tcp_shutdown();
    harness_lock();
    r->in_close = rc;
    harness_unlock();
    rec_on_close(ud, s);
}

TEST(err_shutdown_in_callback) {
    server srv;
    server_start(&srv, "127.0.0.1", NULL);
    srv.echo = true;

    shutdown_recorder r;
    memset(&r, 0, sizeof r);
    recorder_init(&r.rec);
    r.in_ready = r.in_message = r.in_close = 1; /* not yet called */
    sack_tcp_options o;
    CHECK_OK(sack_tcp_options_init(&o));
    recorder_options(&r.rec, &o);
    o.on_ready = sd_on_ready;
    o.on_message = sd_on_message;
    o.on_close = sd_on_close;
    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%u", (unsigned)srv.port);
    o.to_address = target;
    sack_tcp *c = NULL;
    CHECK_OK(sack_tcp_open(&o, &c));
    WAIT_UNTIL(r.rec.readies == 1);
    harness_lock();
    sack_tcp_result in_ready = r.in_ready;
    harness_unlock();
    CHECK_RESULT(in_ready, SACK_TCP_ERR_WOULD_DEADLOCK);

    /* The socket still works after the refused shutdown. */
    CHECK_OK(sack_tcp_send(c, "still here", 10));
    WAIT_UNTIL(r.rec.data_len == 10);
    CHECK(memcmp(r.rec.data, "still here", 10) == 0);
    harness_lock();
    sack_tcp_result in_message = r.in_message;
    harness_unlock();
    CHECK_RESULT(in_message, SACK_TCP_ERR_WOULD_DEADLOCK);

    /* So does the listener: another client gets its echo. */
    echo_round_trip(&srv, "127.0.0.1");
    CHECK_EQ(r.rec.closes, 0);

    CHECK_OK(sack_tcp_close(c));
    WAIT_CLOSED(r.rec);
    harness_lock();
    sack_tcp_result in_close = r.in_close;
    harness_unlock();
    CHECK_RESULT(in_close, SACK_TCP_ERR_WOULD_DEADLOCK);
    CHECK_STR(r.rec.log, "CRMX");
    sack_tcp_free(c);
    server_wait_conns_closed(&srv);
    server_stop(&srv);
    server_settle_destroy(&srv);
    recorder_destroy(&r.rec);
}

/* ---- 11. runtime start, double start, restart ---- */

#define MAX_THREADS 16
static pthread_t cb_threads[MAX_THREADS];
static int n_cb_threads;

static void note_thread(void) {
    pthread_t self = pthread_self();
    harness_lock();
    bool seen = false;
    for (int i = 0; i < n_cb_threads; i++)
        if (pthread_equal(cb_threads[i], self)) seen = true;
    if (!seen && n_cb_threads < MAX_THREADS) cb_threads[n_cb_threads++] = self;
    harness_unlock();
}

static void th_on_connect(void *ud, sack_tcp *s, sack_tcp_result status) {
    note_thread();
    rec_on_connect(ud, s, status);
}
static void th_on_ready(void *ud, sack_tcp *s) {
    note_thread();
    rec_on_ready(ud, s);
}
static void th_on_message(void *ud, sack_tcp *s, const uint8_t *data, size_t len) {
    note_thread();
    rec_on_message(ud, s, data, len);
}
static void th_on_close(void *ud, sack_tcp *s) {
    note_thread();
    rec_on_close(ud, s);
}

TEST(err_runtime_start) {
    sack_tcp_runtime_options ro;
    /* A struct that was never initialised is refused and starts nothing. */
    memset(&ro, 0, sizeof ro);
    CHECK_RESULT(sack_tcp_runtime_start(&ro), SACK_TCP_ERR_INVALID_ARGUMENT);

    CHECK_OK(sack_tcp_runtime_options_init(&ro));
    CHECK_EQ(ro.struct_size, sizeof ro);
    CHECK_EQ(ro.worker_threads, 0);
    ro.worker_threads = 1;
    CHECK_OK(sack_tcp_runtime_start(&ro));
    CHECK_RESULT(sack_tcp_runtime_start(&ro), SACK_TCP_ERR_INVALID_ARGUMENT);
    CHECK_RESULT(sack_tcp_runtime_start(NULL), SACK_TCP_ERR_INVALID_ARGUMENT);

    /* Sockets work on the one worker, and every callback runs there. */
    server srv;
    server_start(&srv, "127.0.0.1", NULL);
    srv.echo = true;
    recorder clis[3];
    sack_tcp *cs[3];
    for (int i = 0; i < 3; i++) {
        recorder_init(&clis[i]);
        sack_tcp_options o;
        CHECK_OK(sack_tcp_options_init(&o));
        recorder_options(&clis[i], &o);
        o.on_connect = th_on_connect;
        o.on_ready = th_on_ready;
        o.on_message = th_on_message;
        o.on_close = th_on_close;
        char target[64];
        snprintf(target, sizeof target, "127.0.0.1:%u", (unsigned)srv.port);
        o.to_address = target;
        CHECK_OK(sack_tcp_open(&o, &cs[i]));
    }
    for (int i = 0; i < 3; i++) {
        WAIT_UNTIL(clis[i].readies == 1);
        CHECK_OK(sack_tcp_send(cs[i], "echo", 4));
    }
    for (int i = 0; i < 3; i++) {
        WAIT_UNTIL(clis[i].data_len == 4);
        CHECK_OK(sack_tcp_close(cs[i]));
    }
    for (int i = 0; i < 3; i++) {
        WAIT_CLOSED(clis[i]);
        CHECK_STR(clis[i].log, "CRMX");
        sack_tcp_free(cs[i]);
        recorder_destroy(&clis[i]);
    }
    harness_lock();
    int threads = n_cb_threads;
    bool on_main = n_cb_threads > 0 && pthread_equal(cb_threads[0], pthread_self());
    harness_unlock();
    CHECK_EQ(threads, 1);
    CHECK(!on_main);
    server_wait_conns_closed(&srv);

    /* Shutdown with the listener still open: it is closed (its close
     * callback has run when shutdown returns); the handle stays valid. */
    CHECK_OK(sack_tcp_shutdown());
    harness_lock();
    int listener_closes = srv.rec.closes;
    harness_unlock();
    CHECK_EQ(listener_closes, 1);
    CHECK_RESULT(sack_tcp_close(srv.listener), SACK_TCP_ERR_CLOSED);
    sack_tcp_free(srv.listener);
    server_settle_destroy(&srv);
    wait_live_handles(0);
    CHECK_OK(sack_tcp_shutdown()); /* again, with nothing running */

    /* Lazy restart: open without runtime_start. */
    server srv2;
    server_start(&srv2, "127.0.0.1", NULL);
    srv2.echo = true;
    echo_round_trip(&srv2, "127.0.0.1");
    server_wait_conns_closed(&srv2);
    server_stop(&srv2);
    server_settle_destroy(&srv2);
    CHECK_OK(sack_tcp_shutdown());

    /* And an explicit start works again once stopped. */
    CHECK_OK(sack_tcp_runtime_start(&ro));
    server srv3;
    server_start(&srv3, "::1", NULL);
    srv3.echo = true;
    echo_round_trip(&srv3, "::1");
    server_wait_conns_closed(&srv3);
    server_stop(&srv3);
    server_settle_destroy(&srv3);
}

/* ---- 12. listener addresses and client address forms ---- */

static void check_local_address(sack_tcp *h, const char *expected) {
    char addr[SACK_TCP_ADDRESS_MAX];
    CHECK_OK(sack_tcp_get_local_address(h, addr, sizeof addr));
    if (strcmp(addr, expected) != 0) FAIL("local address is \"%s\", expected \"%s\"", addr, expected);
}

/* Connects raw clients from each ip to the server; each must be accepted. */
static void expect_accepts(server *s, const char *ip) {
    int fd = -1;
    int err = try_connect(ip, s->port, &fd);
    if (err != 0) FAIL("raw connect from %s to port %u: %s", ip, (unsigned)s->port, strerror(err));
    raw_write_all(fd, "hi", 2);
    /* The accepted connection echoes; reading it back proves it is ours. */
    char buf[2];
    raw_read_exact(fd, buf, 2, WAIT_MS);
    CHECK(memcmp(buf, "hi", 2) == 0);
    close(fd);
}

static void client_connects(const sack_tcp_options *o, const char *want_local) {
    recorder cli;
    recorder_init(&cli);
    sack_tcp_options oo = *o;
    recorder_options(&cli, &oo);
    sack_tcp *c = NULL;
    CHECK_OK(sack_tcp_open(&oo, &c));
    WAIT_UNTIL(cli.closes == 1 || cli.readies == 1);
    CHECK_RESULT(cli.connect_status, SACK_TCP_OK);
    CHECK_STR(cli.log, "CR");
    if (want_local) check_local_address(c, want_local);
    CHECK_OK(sack_tcp_send(c, "x", 1));
    WAIT_UNTIL(cli.data_len == 1);
    CHECK_OK(sack_tcp_close(c));
    WAIT_CLOSED(cli);
    sack_tcp_free(c);
    recorder_destroy(&cli);
}

TEST(err_listener_getters) {
    sack_tcp_options o;
    size_t count = 0;
    uint16_t ports[4];

    /* "localhost": only 127.0.0.1 here. */
    server s1;
    server_start(&s1, "localhost", NULL);
    s1.echo = true;
    CHECK_OK(sack_tcp_get_ports(s1.listener, ports, 4, &count));
    CHECK_EQ(count, 1);
    CHECK_EQ(ports[0], s1.port);
    check_local_address(s1.listener, "127.0.0.1");
    bool is_listener = false;
    CHECK_OK(sack_tcp_is_listener(s1.listener, &is_listener));
    CHECK(is_listener);
    expect_accepts(&s1, "127.0.0.1");

    /* Clients: to_address + to_port, "localhost:PORT", and a bind address. */
    CHECK_OK(sack_tcp_options_init(&o));
    o.to_address = "127.0.0.1";
    o.to_port = s1.port;
    client_connects(&o, "127.0.0.1");
    char target[64];
    snprintf(target, sizeof target, "localhost:%u", (unsigned)s1.port);
    CHECK_OK(sack_tcp_options_init(&o));
    o.to_address = target;
    client_connects(&o, "127.0.0.1");
    snprintf(target, sizeof target, "127.0.0.1:%u", (unsigned)s1.port);
    CHECK_OK(sack_tcp_options_init(&o));
    o.to_address = target;
    o.address = "127.0.0.1"; /* the local address to bind */
    client_connects(&o, "127.0.0.1");
    server_wait_conns_closed(&s1);
    server_stop(&s1);
    server_settle_destroy(&s1);

    /* IPv4 family, no address: 0.0.0.0. */
    CHECK_OK(sack_tcp_options_init(&o));
    o.family = SACK_TCP_FAMILY_IPV4;
    server s2;
    server_start(&s2, NULL, &o);
    s2.echo = true;
    check_local_address(s2.listener, "0.0.0.0");
    CHECK_OK(sack_tcp_get_ports(s2.listener, NULL, 0, &count));
    CHECK_EQ(count, 1);
    expect_accepts(&s2, "127.0.0.1");
    server_wait_conns_closed(&s2);
    server_stop(&s2);
    server_settle_destroy(&s2);

    /* Default: dual-stack [::] accepts IPv4 and IPv6 clients. */
    server s3;
    server_start(&s3, NULL, NULL);
    s3.echo = true;
    check_local_address(s3.listener, "::");
    expect_accepts(&s3, "127.0.0.1");
    expect_accepts(&s3, "::1");
    WAIT_UNTIL(s3.n_conns == 2);
    server_wait_conns_closed(&s3);
    server_stop(&s3);
    server_settle_destroy(&s3);

    /* IPv6 family, no address: [::] with IPV6_V6ONLY refuses IPv4. */
    CHECK_OK(sack_tcp_options_init(&o));
    o.family = SACK_TCP_FAMILY_IPV6;
    server s4;
    server_start(&s4, NULL, &o);
    s4.echo = true;
    check_local_address(s4.listener, "::");
    expect_accepts(&s4, "::1");
    int err = try_connect("127.0.0.1", s4.port, NULL);
    if (err != ECONNREFUSED)
        FAIL("IPv4 connect to an IPv6-only listener gave %s, expected ECONNREFUSED",
             err ? strerror(err) : "success");
    WAIT_UNTIL(s4.n_conns == 1);
    server_wait_conns_closed(&s4);
    server_stop(&s4);
    harness_lock();
    int n4 = s4.n_conns;
    harness_unlock();
    CHECK_EQ(n4, 1);
    server_settle_destroy(&s4);

    /* A bare port "0" as the address: the default wildcard. */
    server s5;
    server_start(&s5, "0", NULL);
    s5.echo = true;
    CHECK(s5.port != 0);
    check_local_address(s5.listener, "::");
    expect_accepts(&s5, "127.0.0.1");
    server_wait_conns_closed(&s5);
    server_stop(&s5);
    server_settle_destroy(&s5);

    /* "127.0.0.1:0" with the port in the string, and port field ignored
     * when the string has one. */
    recorder r6;
    recorder_init(&r6);
    sack_tcp *l6 = NULL;
    CHECK_OK(listener_open(&r6, NULL, "127.0.0.1:0", 0, &l6));
    uint16_t p6 = 0;
    CHECK_OK(sack_tcp_get_local_port(l6, &p6));
    CHECK(p6 != 0);
    check_local_address(l6, "127.0.0.1");
    listener_close(&r6, l6);
    recorder_destroy(&r6);
}

/* ---- 13. retain and free ---- */

TEST(err_retain_free) {
    CHECK_EQ(sack_tcp_live_handles(), 0);
    uint16_t port = 0;
    int lfd = raw_listen("127.0.0.1", &port, 16);
    recorder cli;
    recorder_init(&cli);
    sack_tcp *c = client_open(&cli, "127.0.0.1", port, NULL);
    int afd = raw_accept(lfd, WAIT_MS);
    WAIT_UNTIL(cli.readies == 1);
    CHECK_EQ(sack_tcp_live_handles(), 1);

    CHECK_OK(sack_tcp_retain(c));
    sack_tcp_free(c); /* one reference left */
    CHECK_EQ(sack_tcp_live_handles(), 1);
    /* Still open: it sends, receives, and reports. */
    CHECK_OK(sack_tcp_send(c, "after free", 10));
    char buf[16];
    raw_read_exact(afd, buf, 10, WAIT_MS);
    CHECK(memcmp(buf, "after free", 10) == 0);
    raw_write_all(afd, "back", 4);
    WAIT_UNTIL(cli.data_len == 4);
    size_t queued = 99;
    CHECK_OK(sack_tcp_get_queued_bytes(c, &queued));
    CHECK_EQ(queued, 0);
    CHECK_EQ(cli.closes, 0);
    CHECK_EQ(sack_tcp_live_handles(), 1);

    /* The last free closes gracefully: the peer sees EOF, close fires. */
    sack_tcp_free(c);
    c = NULL;
    CHECK_EQ(raw_read_to_eof(afd, NULL, 0, NULL, WAIT_MS), 0);
    close(afd);
    WAIT_CLOSED(cli);
    CHECK_STR(cli.log, "CRMX");
    CHECK_EQ(cli.errors, 0);
    CHECK(!cli.callback_after_close);
    wait_live_handles(0);

    /* Several retains on a listener: only the last free releases it. */
    recorder rl;
    recorder_init(&rl);
    sack_tcp *l = NULL;
    CHECK_OK(listener_open(&rl, NULL, "127.0.0.1", 0, &l));
    uint16_t lport = 0;
    CHECK_OK(sack_tcp_get_local_port(l, &lport));
    CHECK_OK(sack_tcp_retain(l));
    CHECK_OK(sack_tcp_retain(l));
    sack_tcp_free(l);
    sack_tcp_free(l);
    CHECK_EQ(sack_tcp_live_handles(), 1);
    /* Still open and listening. */
    uint16_t lport2 = 0;
    CHECK_OK(sack_tcp_get_local_port(l, &lport2));
    CHECK_EQ(lport2, lport);
    CHECK_EQ(rl.closes, 0);
    sack_tcp_free(l); /* last reference: the listener closes */
    WAIT_CLOSED(rl);
    CHECK_STR(rl.log, "X");
    wait_live_handles(0);
    int err = try_connect("127.0.0.1", lport, NULL);
    if (err != ECONNREFUSED)
        FAIL("connect to a listener released by its last free gave %s, expected ECONNREFUSED",
             err ? strerror(err) : "success");
    close(lfd);
    recorder_destroy(&cli);
    recorder_destroy(&rl);
}

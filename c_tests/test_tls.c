/* TLS: handshake and echo, the events around it, certificates and SNI,
 * verification failures, fallback detection, STARTTLS, ALPN, client
 * certificates, hostile peers, and interop with OpenSSL's and Python's TLS. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

/* ---- certificates ---- */

typedef struct pem_pair {
    char *cert, *key;
} pem_pair;

static pem_pair load_pair(const char *name) {
    char file[128];
    pem_pair p;
    snprintf(file, sizeof file, "%s.pem", name);
    p.cert = read_cert(file);
    snprintf(file, sizeof file, "%s.key", name);
    p.key = read_cert(file);
    return p;
}

static void free_pair(pem_pair *p) {
    free(p->cert);
    free(p->key);
}

static sack_tcp_options new_options(void) {
    sack_tcp_options o;
    CHECK_OK(sack_tcp_options_init(&o));
    return o;
}

/* Options for a TLS server whose default certificate is `p`. */
static sack_tcp_options server_options(const pem_pair *p) {
    sack_tcp_options o = new_options();
    o.cert = p->cert;
    o.key = p->key;
    return o;
}

/* ---- error capture: the recorder keeps only the code ---- */

#define ERRCAP_MAX 256
#define ERRCAP_DATA 4096
typedef struct errcap {
    const void *who; /* the callback's user_data (a recorder) */
    sack_tcp_result code;
    unsigned char data[ERRCAP_DATA];
    size_t len;
    char message[256];
} errcap;
static errcap errcaps[ERRCAP_MAX];
static int n_errcaps;

/* An error callback that keeps code, message and data, then records as
 * usual (so a test that sees the recorder's count sees the capture). */
static void cap_on_error(void *ud, sack_tcp *s, sack_tcp_result code, const char *msg,
                         const uint8_t *data, size_t len) {
    CHECK(len == 0 || data != NULL);
    CHECK(len != 0 || data == NULL);
    harness_lock();
    if (n_errcaps == ERRCAP_MAX) FAIL("more than %d errors; raise ERRCAP_MAX", ERRCAP_MAX);
    {
        errcap *e = &errcaps[n_errcaps++];
        e->who = ud;
        e->code = code;
        e->len = len < ERRCAP_DATA ? len : ERRCAP_DATA;
        if (e->len) memcpy(e->data, data, e->len);
        snprintf(e->message, sizeof e->message, "%s", msg ? msg : "(null)");
    }
    harness_unlock();
    rec_on_error(ud, s, code, msg, data, len);
}

/* The last error captured for recorder `r` (fails if none). */
static errcap errcap_of(const recorder *r) {
    errcap out;
    bool found = false;
    harness_lock();
    for (int i = n_errcaps - 1; i >= 0; i--) {
        if (errcaps[i].who == r) {
            out = errcaps[i];
            found = true;
            break;
        }
    }
    harness_unlock();
    if (!found) FAIL("no error was captured for this socket");
    return out;
}

/* A TLS server (or any) with errors captured on its connections. */
static void capturing_server_start(server *srv, const char *ip, const sack_tcp_options *o) {
    server_start(srv, ip, o);
    /* Accepted connections copy the listener's callbacks. */
    CHECK_OK(sack_tcp_on_error(srv->listener, cap_on_error));
}

static recorder snapshot(recorder *r) {
    harness_lock();
    recorder copy = *r;
    harness_unlock();
    return copy;
}

/* ---- a client with custom callbacks set before it opens ---- */

static sack_tcp *open_client(recorder *r, const char *ip, uint16_t port, const sack_tcp_options *base,
                             sack_tcp_message_cb on_message, sack_tcp_ready_cb on_ready) {
    sack_tcp_options o = base ? *base : new_options();
    recorder_options(r, &o);
    o.on_error = cap_on_error;
    if (on_message) o.on_message = on_message;
    if (on_ready) o.on_ready = on_ready;
    char target[128];
    if (strchr(ip, ':'))
        snprintf(target, sizeof target, "[%s]:%u", ip, (unsigned)port);
    else
        snprintf(target, sizeof target, "%s:%u", ip, (unsigned)port);
    o.to_address = target;
    sack_tcp *c = NULL;
    CHECK_OK(sack_tcp_open(&o, &c));
    CHECK(c != NULL);
    return c;
}

/* ---- one TLS client attempt, to completion ---- */

typedef struct outcome {
    bool ready;  /* the client's ready fired */
    bool echoed; /* "ping" came back exactly */
    int errors;
    sack_tcp_result code; /* the client's (last) error code, 0 if none */
    char log[64];         /* the client's event letters */
    char message[256];    /* the client's error message */
    sack_tcp_result connect_status;
    int conn; /* index of the server's connection, -1 if none */
} outcome;

/* Connects a TLS client (`base` plus ssl) to ip:port. If it gets ready it
 * sends "ping", expects it back and closes; otherwise it waits for close.
 * With `srv`, also waits for the server's side of it to close. */
static outcome tls_try(server *srv, const char *ip, uint16_t port, const sack_tcp_options *base) {
    outcome out;
    memset(&out, 0, sizeof out);
    out.conn = -1;
    sack_tcp_options o = base ? *base : new_options();
    o.ssl = true;
    int before = 0;
    if (srv) {
        harness_lock();
        before = srv->n_conns;
        harness_unlock();
    }
    recorder r;
    recorder_init(&r);
    sack_tcp *c = open_client(&r, ip, port, &o, NULL, NULL);
    WAIT_UNTIL(r.readies > 0 || r.closes > 0);
    harness_lock();
    out.ready = r.readies > 0;
    harness_unlock();
    if (out.ready) {
        sack_tcp_result rc = sack_tcp_send(c, "ping", 4);
        if (rc == SACK_TCP_OK) {
            WAIT_UNTIL(r.data_len >= 4 || r.closes > 0);
            harness_lock();
            out.echoed = r.data_len == 4 && memcmp(r.data, "ping", 4) == 0;
            harness_unlock();
        } else if (rc != SACK_TCP_ERR_CLOSED) {
            FAIL("send returned %s", sack_tcp_error_name(rc));
        }
        rc = sack_tcp_close(c);
        if (rc != SACK_TCP_OK && rc != SACK_TCP_ERR_CLOSED)
            FAIL("close returned %s", sack_tcp_error_name(rc));
    }
    WAIT_UNTIL(r.closes == 1);
    recorder s = snapshot(&r);
    CHECK(!s.overlap);
    CHECK(!s.callback_after_close);
    out.errors = s.errors;
    out.connect_status = s.connect_status;
    out.code = s.errors ? s.error_code : 0;
    snprintf(out.log, sizeof out.log, "%.*s", (int)s.log_len, s.log);
    if (s.errors) snprintf(out.message, sizeof out.message, "%s", errcap_of(&r).message);
    if (srv && s.connect_status == SACK_TCP_OK) {
        WAIT_UNTIL(srv->n_conns > before);
        out.conn = before;
        WAIT_UNTIL(srv->conns[before].closes == 1);
    }
    sack_tcp_free(c);
    recorder_destroy(&r);
    return out;
}

#define EXPECT_OK(o, what)                                                                 \
    do {                                                                                   \
        outcome o_ = (o);                                                                  \
        if (!o_.ready || !o_.echoed || o_.errors != 0)                                     \
            FAIL("%s: expected a TLS echo; client log %s, error %s (%d) \"%s\"", what,     \
                 o_.log, sack_tcp_error_name(o_.code), (int)o_.code, o_.message);          \
    } while (0)

/* Failed handshake: connect(0), error(code), close, and nothing else. */
#define EXPECT_FAIL(o, expected, what)                                                     \
    do {                                                                                   \
        outcome o_ = (o);                                                                  \
        sack_tcp_result e_ = (expected);                                                   \
        if (strcmp(o_.log, "CEX") != 0 || o_.code != e_ || o_.connect_status != 0)         \
            FAIL("%s: expected log CEX with %s (%d); got log %s, error %s (%d) \"%s\"",   \
                 what, sack_tcp_error_name(e_), (int)e_, o_.log,                           \
                 sack_tcp_error_name(o_.code), (int)o_.code, o_.message);                  \
    } while (0)

/* ---- raw peers ---- */

static int raw_connect_nodelay(const char *ip, uint16_t port) {
    int fd = raw_connect(ip, port);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* Reads until the peer closes (EOF or reset) within timeout_ms; returns the
 * bytes read and whether it was a reset. */
static size_t raw_read_until_closed(int fd, int timeout_ms, bool *reset) {
    long long deadline = harness_now_ms() + timeout_ms;
    size_t total = 0;
    char buf[4096];
    *reset = false;
    for (;;) {
        long long left = deadline - harness_now_ms();
        if (left <= 0) FAIL("the peer did not close within %d ms (%zu bytes read)", timeout_ms, total);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int n = poll(&p, 1, (int)left);
        if (n < 0 && errno != EINTR) FAIL("poll: %s", strerror(errno));
        if (n <= 0) continue;
        ssize_t k = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (k == 0) return total;
        if (k < 0) {
            if (errno == EAGAIN || errno == EINTR) continue;
            if (errno == ECONNRESET) {
                *reset = true;
                return total;
            }
            FAIL("recv: %s", strerror(errno));
        }
        total += (size_t)k;
    }
}

/* Forwards bytes both ways between two raw sockets until both directions
 * have ended (an EOF is passed on as shutdown(SHUT_WR)) or one side fails
 * (then returns at once; the caller closes both). */
static void relay(int a, int b, int timeout_ms) {
    long long deadline = harness_now_ms() + timeout_ms;
    int fds[2] = {a, b};
    bool reading[2] = {true, true};
    static char buf[65536];
    while (reading[0] || reading[1]) {
        struct pollfd p[2];
        int idx[2], n = 0;
        for (int i = 0; i < 2; i++) {
            if (!reading[i]) continue;
            p[n].fd = fds[i];
            p[n].events = POLLIN;
            p[n].revents = 0;
            idx[n++] = i;
        }
        long long left = deadline - harness_now_ms();
        if (left <= 0) FAIL("relay: the connection did not end within %d ms", timeout_ms);
        int r = poll(p, (nfds_t)n, (int)left);
        if (r < 0 && errno != EINTR) FAIL("poll: %s", strerror(errno));
        for (int k = 0; k < n && r > 0; k++) {
            if (!p[k].revents) continue;
            int i = idx[k];
            ssize_t got = recv(fds[i], buf, sizeof buf, MSG_DONTWAIT);
            if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
            if (got < 0) return; /* reset */
            if (got == 0) {
                shutdown(fds[1 - i], SHUT_WR);
                reading[i] = false;
                continue;
            }
            for (ssize_t done = 0; done < got;) {
                ssize_t w = send(fds[1 - i], buf + done, (size_t)(got - done), MSG_NOSIGNAL);
                if (w < 0 && errno == EINTR) continue;
                if (w < 0) return;
                done += w;
            }
        }
    }
}

/* A real ClientHello record, as a sack TLS client sends it. */
static unsigned char *capture_client_hello(size_t *len) {
    uint16_t port = 0;
    int lfd = raw_listen("127.0.0.1", &port, 4);
    char *ca = read_cert("ca.pem");
    sack_tcp_options o = new_options();
    o.ssl = true;
    o.ca = ca;
    recorder r;
    recorder_init(&r);
    sack_tcp *c = client_open(&r, "127.0.0.1", port, &o);
    int fd = raw_accept(lfd, WAIT_MS);
    unsigned char head[5];
    raw_read_exact(fd, head, 5, WAIT_MS);
    CHECK_EQ(head[0], 0x16);
    CHECK_EQ(head[1], 0x03);
    size_t body = (size_t)head[3] << 8 | head[4];
    unsigned char *hello = malloc(5 + body);
    CHECK(hello != NULL);
    memcpy(hello, head, 5);
    raw_read_exact(fd, hello + 5, body, WAIT_MS);
    CHECK_EQ(hello[5], 0x01); /* ClientHello */
    CHECK_OK(sack_tcp_abort(c));
    WAIT_UNTIL(r.closes == 1);
    sack_tcp_free(c);
    close(fd);
    close(lfd);
    recorder_destroy(&r);
    free(ca);
    *len = 5 + body;
    return hello;
}

#include "child.h"

/* Pseudo-random bytes (xorshift32), reproducible from the seed. */
static void fill_random(unsigned char *buf, size_t n, uint32_t seed) {
    uint32_t x = seed ? seed : 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        buf[i] = (unsigned char)(x >> 11);
    }
}

/* Sends `n` bytes in uneven pieces. */
static void send_in_pieces(sack_tcp *s, const unsigned char *buf, size_t n) {
    size_t done = 0, piece = 1;
    while (done < n) {
        size_t k = piece < n - done ? piece : n - done;
        CHECK_OK(sack_tcp_send(s, buf + done, k));
        done += k;
        piece = piece * 3 + 7;
        if (piece > 70000) piece = 1;
    }
}

/* Reads exactly strlen(text) bytes from raw socket `fd`; they must be `text`. */
static void expect_raw(int fd, const char *text) {
    size_t n = strlen(text);
    char buf[256];
    CHECK(n <= sizeof buf);
    raw_read_exact(fd, buf, n, WAIT_MS);
    if (memcmp(buf, text, n) != 0) FAIL("expected \"%s\" from the server", text);
}

/* Closes raw client `fd` and checks the server's connection closed
 * without errors. */
static void raw_close_cleanly(int fd, server *srv) {
    close(fd);
    WAIT_UNTIL(srv->conns[0].closes == 1);
    CHECK_EQ(srv->conns[0].errors, 0);
}

/* Closes client `c` gracefully, checks both ends closed without errors,
 * and frees it. */
static void close_cleanly(sack_tcp *c, recorder *cli, server *srv) {
    CHECK_OK(sack_tcp_close(c));
    WAIT_UNTIL(cli->closes == 1 && srv->conns[0].closes == 1);
    CHECK_EQ(cli->errors, 0);
    CHECK_EQ(srv->conns[0].errors, 0);
    sack_tcp_free(c);
}

/* ==================================================================== */

TEST(tls_echo) {
    pem_pair localhost = load_pair("localhost");
    char *ca = read_cert("ca.pem");
    sack_tcp_options o;
    CHECK_OK(sack_tcp_options_init(&o));
    o.cert = localhost.cert;
    o.key = localhost.key;
    server srv;
    server_start(&srv, "127.0.0.1", &o);
    srv.echo = true;

    CHECK_OK(sack_tcp_options_init(&o));
    o.ssl = true;
    o.ca = ca;
    recorder cli;
    recorder_init(&cli);
    sack_tcp *c = client_open(&cli, "127.0.0.1", srv.port, &o);
    /* Sent before ready: queued, not lost. */
    CHECK_OK(sack_tcp_send(c, "early", 5));
    WAIT_UNTIL(cli.readies == 1);
    bool secure = false;
    CHECK_OK(sack_tcp_get_ssl(c, &secure));
    CHECK(secure);
    CHECK_OK(sack_tcp_send(c, " late", 5));
    WAIT_UNTIL(cli.data_len == 10);
    CHECK(memcmp(cli.data, "early late", 10) == 0);
    CHECK_OK(sack_tcp_close(c));
    WAIT_UNTIL(cli.closes == 1 && srv.n_conns == 1 && srv.conns[0].closes == 1);
    CHECK_EQ(cli.errors, 0);
    CHECK_EQ(srv.conns[0].errors, 0);
    /* connect at accept, ready after the handshake, messages, close. */
    CHECK(strncmp(srv.conns[0].log, "CRM", 3) == 0);
    CHECK_EQ(srv.conns[0].log[srv.conns[0].log_len - 1], 'X');
    /* The early bytes waited in the queue, so a drain may follow ready. */
    if (strncmp(cli.log, "CR", 2) != 0 || !strchr(cli.log, 'M')) FAIL("client log %s", cli.log);
    sack_tcp_free(c);
    server_stop(&srv);
    server_destroy(&srv);
    recorder_destroy(&cli);
    free_pair(&localhost);
    free(ca);
}

/* 1. A MiB each way at once, byte-exact. */
static void one_mib_each_way(size_t read_buffer) {
    enum { N = 1 << 20 };
    pem_pair localhost = load_pair("localhost");
    char *ca = read_cert("ca.pem");
    sack_tcp_options o = server_options(&localhost);
    o.read_buffer_size = read_buffer;
    server srv;
    server_start(&srv, "127.0.0.1", &o);

    unsigned char *up = malloc(N), *down = malloc(N);
    CHECK(up && down);
    fill_random(up, N, 0x1234567);
    fill_random(down, N, 0xBADC0DE);
    CHECK(memcmp(up, down, 64) != 0);

    o = new_options();
    o.ssl = true;
    o.ca = ca;
    o.read_buffer_size = read_buffer;
    recorder cli;
    recorder_init(&cli);
    sack_tcp *c = client_open(&cli, "127.0.0.1", srv.port, &o);
    /* The client's MiB starts before the handshake is done. */
    send_in_pieces(c, up, N);
    WAIT_UNTIL(srv.n_conns == 1 && srv.conns[0].readies == 1);
    send_in_pieces(srv.conns[0].sock, down, N);

    WAIT_UNTIL(cli.data_len >= N && srv.conns[0].data_len >= N);
    CHECK_EQ(cli.data_len, N);
    CHECK_EQ(srv.conns[0].data_len, N);
    CHECK_EQ(crc32_update(0, cli.data, N), crc32_update(0, down, N));
    CHECK_EQ(crc32_update(0, srv.conns[0].data, N), crc32_update(0, up, N));
    CHECK(memcmp(cli.data, down, N) == 0);
    CHECK(memcmp(srv.conns[0].data, up, N) == 0);

    CHECK_OK(sack_tcp_close(c));
    WAIT_UNTIL(cli.closes == 1 && srv.conns[0].closes == 1);
    CHECK_EQ(cli.errors, 0);
    CHECK_EQ(srv.conns[0].errors, 0);
    CHECK(!cli.overlap && !srv.conns[0].overlap);
    sack_tcp_free(c);
    server_stop(&srv);
    server_destroy(&srv);
    recorder_destroy(&cli);
    free(up);
    free(down);
    free_pair(&localhost);
    free(ca);
}

TEST(tls_one_mib_each_way) { one_mib_each_way(0); }

/* Reads larger than the 16 KiB of plaintext rustls holds at once are fed
 * to it in turns. */
TEST(tls_one_mib_large_read_buffer) { one_mib_each_way(256 * 1024); }

/* 2. SNI chooses the certificate; the client proves which one it got by
 * verifying it against the name it expects. */
TEST(tls_sni_matrix) {
    pem_pair def = load_pair("default.example.com"), a = load_pair("a.example.com"),
             b = load_pair("b.example.com"), wild = load_pair("wild");
    char *ca = read_cert("ca.pem");
    sack_tcp_tls_host hosts[3] = {
        {.host = "a.example.com", .cert = a.cert, .key = a.key},
        {.host = "b.example.com", .cert = b.cert, .key = b.key},
        {.host = "*.wild.example.com", .cert = wild.cert, .key = wild.key},
    };
    sack_tcp_options o = server_options(&def);
    o.host = "default.example.com";
    o.hosts = hosts;
    o.hosts_count = 3;
    server srv;
    capturing_server_start(&srv, "127.0.0.1", &o);
    srv.echo = true;

    struct {
        const char *sni;   /* the client's `host` */
        const char *check; /* NULL: verify the SNI name itself */
    } ok[] = {
        {"a.example.com", NULL},
        {"b.example.com", NULL},
        {"A.EXAMPLE.COM", NULL},      /* matching ignores case */
        {"x.wild.example.com", NULL}, /* the wildcard entry */
        {"default.example.com", NULL},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        sack_tcp_options c = new_options();
        c.ca = ca;
        c.host = ok[i].sni;
        EXPECT_OK(tls_try(&srv, "127.0.0.1", srv.port, &c), ok[i].sni);
    }

    /* The wildcard covers one label only: y.x.wild.example.com gets the
     * default certificate, which the client rejects for that name. */
    sack_tcp_options c = new_options();
    c.ca = ca;
    c.host = "y.x.wild.example.com";
    EXPECT_FAIL(tls_try(&srv, "127.0.0.1", srv.port, &c), SACK_TCP_TLS_BAD_NAME, "two labels under *");

    /* An unknown name: a certificate from our CA that does not cover the
     * name (the default), so BAD_NAME, and the server does not report a
     * host mismatch (it had a certificate to serve). */
    c = new_options();
    c.ca = ca;
    c.host = "nobody.example.com";
    outcome u = tls_try(&srv, "127.0.0.1", srv.port, &c);
    EXPECT_FAIL(u, SACK_TCP_TLS_BAD_NAME, "unknown name");
    {
        recorder sc = snapshot(&srv.conns[u.conn]);
        if (sc.errors && sc.error_code == SACK_TCP_TLS_HOST_MISMATCH)
            FAIL("server reported a host mismatch although it has a default certificate");
        CHECK_EQ(sc.readies, 0);
    }
    /* The same name, not verified: the default certificate is served. */
    c = new_options();
    c.tls_insecure_skip_verify = true;
    c.host = "nobody.example.com";
    EXPECT_OK(tls_try(&srv, "127.0.0.1", srv.port, &c), "unknown name, skip verify");

    /* No SNI (an IP address target sends none): the default certificate,
     * which lacks the IP SAN, so verification by IP fails by name ... */
    c = new_options();
    c.ca = ca;
    EXPECT_FAIL(tls_try(&srv, "127.0.0.1", srv.port, &c), SACK_TCP_TLS_BAD_NAME, "no SNI, verify IP");
    /* ... and unverified the handshake succeeds (a certificate was served;
     * tls_sni_unknown_without_default shows that fails without a default). */
    c = new_options();
    c.tls_insecure_skip_verify = true;
    EXPECT_OK(tls_try(&srv, "127.0.0.1", srv.port, &c), "no SNI, skip verify");

    /* Every successful connection ended without a server-side error. */
    for (int i = 0; i < 5; i++) CHECK_EQ(srv.conns[i].errors, 0);

    server_stop(&srv);
    server_destroy(&srv);
    free_pair(&def);
    free_pair(&a);
    free_pair(&b);
    free_pair(&wild);
    free(ca);
}

/* 3. Only `hosts`, no default: an unknown name is refused and the server
 * hears error 7 with the name. */
TEST(tls_sni_unknown_without_default) {
    pem_pair a = load_pair("a.example.com");
    char *ca = read_cert("ca.pem");
    sack_tcp_tls_host hosts[1] = {{.host = "a.example.com", .cert = a.cert, .key = a.key}};
    sack_tcp_options o = new_options();
    o.hosts = hosts;
    o.hosts_count = 1;
    server srv;
    capturing_server_start(&srv, "127.0.0.1", &o);
    srv.echo = true;

    sack_tcp_options c = new_options();
    c.ca = ca;
    c.host = "nobody.example.com";
    outcome u = tls_try(&srv, "127.0.0.1", srv.port, &c);
    if (u.ready || u.errors != 1 || strcmp(u.log, "CEX") != 0)
        FAIL("client: expected connect, error, close; got log %s", u.log);
    CHECK(u.code > 0);
    recorder sc = snapshot(&srv.conns[u.conn]);
    if (strcmp(sc.log, "CEX") != 0) FAIL("server connection log %s, expected CEX", sc.log);
    errcap e = errcap_of(&srv.conns[u.conn]);
    if (e.code != SACK_TCP_TLS_HOST_MISMATCH)
        FAIL("server error %s (%d) \"%s\", expected SACK_TCP_TLS_HOST_MISMATCH",
             sack_tcp_error_name(e.code), (int)e.code, e.message);
    if (e.len != strlen("nobody.example.com") || memcmp(e.data, "nobody.example.com", e.len) != 0)
        FAIL("error data \"%.*s\" (%zu bytes), expected the requested name", (int)e.len,
             (const char *)e.data, e.len);

    /* Without SNI there is nothing to serve either. */
    c = new_options();
    c.tls_insecure_skip_verify = true;
    u = tls_try(&srv, "127.0.0.1", srv.port, &c);
    if (u.ready || strcmp(u.log, "CEX") != 0) FAIL("no SNI: client log %s", u.log);
    sc = snapshot(&srv.conns[u.conn]);
    if (strcmp(sc.log, "CEX") != 0) FAIL("no SNI: server connection log %s", sc.log);

    /* The name it does serve still works. */
    c = new_options();
    c.ca = ca;
    c.host = "a.example.com";
    EXPECT_OK(tls_try(&srv, "127.0.0.1", srv.port, &c), "a.example.com");

    server_stop(&srv);
    server_destroy(&srv);
    free_pair(&a);
    free(ca);
}

/* 4. addCert on a running server, and its errors. */
TEST(tls_add_cert_running) {
    pem_pair a = load_pair("a.example.com"), b = load_pair("b.example.com"),
             added = load_pair("added.example.com");
    char *ca = read_cert("ca.pem");
    char *p8 = read_cert("localhost.p8enc.key");
    pem_pair localhost = load_pair("localhost");
    sack_tcp_tls_host hosts[1] = {{.host = "a.example.com", .cert = a.cert, .key = a.key}};
    sack_tcp_options o = new_options();
    o.hosts = hosts;
    o.hosts_count = 1;
    server srv;
    capturing_server_start(&srv, "127.0.0.1", &o);
    srv.echo = true;

    sack_tcp_options c = new_options();
    c.ca = ca;
    c.host = "added.example.com";
    outcome u = tls_try(&srv, "127.0.0.1", srv.port, &c);
    if (u.ready || strcmp(u.log, "CEX") != 0) FAIL("before addCert: client log %s", u.log);
    CHECK_EQ(errcap_of(&srv.conns[u.conn]).code, SACK_TCP_TLS_HOST_MISMATCH);

    CHECK_OK(sack_tcp_add_cert(srv.listener, "added.example.com", added.cert, added.key, NULL));
    EXPECT_OK(tls_try(&srv, "127.0.0.1", srv.port, &c), "after addCert");
    /* The name it had still works. */
    c.host = "a.example.com";
    EXPECT_OK(tls_try(&srv, "127.0.0.1", srv.port, &c), "a after addCert");

    /* Failures change nothing. */
    CHECK_RESULT(sack_tcp_add_cert(srv.listener, "x.example.com", "-----BEGIN CERTIFICATE-----\n"
                                                                  "bm90IGEgY2VydGlmaWNhdGU=\n"
                                                                  "-----END CERTIFICATE-----\n",
                                   added.key, NULL),
                 SACK_TCP_ERR_BAD_PEM);
    CHECK_RESULT(sack_tcp_add_cert(srv.listener, "x.example.com", "no pem here", added.key, NULL),
                 SACK_TCP_ERR_BAD_PEM);
    CHECK_RESULT(sack_tcp_add_cert(srv.listener, "x.example.com", added.cert, a.key, NULL),
                 SACK_TCP_ERR_KEY_MISMATCH);
    CHECK_RESULT(sack_tcp_add_cert(srv.listener, "x.example.com", localhost.cert, p8, "wrong"),
                 SACK_TCP_ERR_WRONG_PASSPHRASE);
    CHECK_RESULT(sack_tcp_add_cert(srv.listener, "bad host!", added.cert, added.key, NULL),
                 SACK_TCP_ERR_INVALID_ARGUMENT);
    CHECK_RESULT(sack_tcp_add_cert(srv.listener, "", added.cert, added.key, NULL),
                 SACK_TCP_ERR_INVALID_ARGUMENT);
    c.host = "added.example.com";
    EXPECT_OK(tls_try(&srv, "127.0.0.1", srv.port, &c), "after failed addCerts");

    /* An encrypted key with its passphrase, under two names at once. */
    CHECK_OK(sack_tcp_add_cert(srv.listener, "localhost~127.0.0.1.example.com", localhost.cert, p8,
                               "s3cret"));
    c.host = "localhost";
    EXPECT_OK(tls_try(&srv, "127.0.0.1", srv.port, &c), "encrypted added key");

    /* Later certificates win for the same name: a.example.com now gets b's
     * certificate, which does not cover it, in a full handshake. Clients
     * with the same settings share their sessions (issue 14, item 3), and a
     * resumed session skips the certificate, so this client's `ca` differs
     * (a trailing newline): it cannot resume the session it had with a's. */
    CHECK_OK(sack_tcp_add_cert(srv.listener, "a.example.com", b.cert, b.key, NULL));
    c.host = "a.example.com";
    size_t ca_len = strlen(ca);
    char *fresh_ca = malloc(ca_len + 2);
    CHECK(fresh_ca != NULL);
    memcpy(fresh_ca, ca, ca_len);
    memcpy(fresh_ca + ca_len, "\n", 2);
    c.ca = fresh_ca;
    EXPECT_FAIL(tls_try(&srv, "127.0.0.1", srv.port, &c), SACK_TCP_TLS_BAD_NAME, "later wins");
    c.ca = ca;
    free(fresh_ca);

    /* Not applicable on a plain server, or on a connection. */
    server plain;
    server_start(&plain, "127.0.0.1", NULL);
    CHECK_RESULT(sack_tcp_add_cert(plain.listener, "added.example.com", added.cert, added.key, NULL),
                 SACK_TCP_ERR_NOT_APPLICABLE);
    recorder pc;
    recorder_init(&pc);
    sack_tcp *pconn = client_open(&pc, "127.0.0.1", plain.port, NULL);
    WAIT_UNTIL(pc.readies == 1);
    CHECK_RESULT(sack_tcp_add_cert(pconn, "added.example.com", added.cert, added.key, NULL),
                 SACK_TCP_ERR_NOT_APPLICABLE);
    CHECK_OK(sack_tcp_close(pconn));
    WAIT_UNTIL(pc.closes == 1 && plain.n_conns == 1 && plain.conns[0].closes == 1);
    sack_tcp_free(pconn);
    recorder_destroy(&pc);
    server_stop(&plain);
    server_destroy(&plain);

    server_stop(&srv);
    server_destroy(&srv);
    free_pair(&a);
    free_pair(&b);
    free_pair(&added);
    free_pair(&localhost);
    free(p8);
    free(ca);
}

/* 5. Encrypted keys, and what sack_tcp_open says about bad ones. */
TEST(tls_encrypted_keys) {
    pem_pair localhost = load_pair("localhost"), a = load_pair("a.example.com");
    char *ca = read_cert("ca.pem");
    char *p8 = read_cert("localhost.p8enc.key");
    char *legacy = read_cert("localhost.legacy.key");
    sack_tcp_options c = new_options();
    c.ca = ca;

    const char *keys[2] = {p8, legacy};
    sack_tcp *sentinel = (sack_tcp *)&c, *out;
    for (int i = 0; i < 2; i++) {
        sack_tcp_options o = new_options();
        o.address = "127.0.0.1";
        o.cert = localhost.cert;
        o.key = keys[i];
        o.passphrase = "wrong";
        out = sentinel;
        CHECK_RESULT(sack_tcp_open(&o, &out), SACK_TCP_ERR_WRONG_PASSPHRASE);
        CHECK(out == sentinel);
        o.passphrase = NULL;
        CHECK_RESULT(sack_tcp_open(&o, &out), SACK_TCP_ERR_WRONG_PASSPHRASE);
        CHECK(out == sentinel);
        /* The same in a `hosts` entry. */
        sack_tcp_tls_host h = {.host = "localhost", .cert = localhost.cert, .key = keys[i],
                               .passphrase = "nope"};
        o = new_options();
        o.address = "127.0.0.1";
        o.hosts = &h;
        o.hosts_count = 1;
        CHECK_RESULT(sack_tcp_open(&o, &out), SACK_TCP_ERR_WRONG_PASSPHRASE);
        CHECK(out == sentinel);
    }

    /* A malformed certificate: bad base64, and a PEM cut in half. */
    sack_tcp_options o = new_options();
    o.address = "127.0.0.1";
    o.cert = "-----BEGIN CERTIFICATE-----\n!!!! not base64 !!!!\n-----END CERTIFICATE-----\n";
    o.key = localhost.key;
    CHECK_RESULT(sack_tcp_open(&o, &out), SACK_TCP_ERR_BAD_PEM);
    CHECK(out == sentinel);
    char *half = strdup(localhost.cert);
    CHECK(half != NULL);
    half[strlen(half) / 2] = 0;
    o.cert = half;
    CHECK_RESULT(sack_tcp_open(&o, &out), SACK_TCP_ERR_BAD_PEM);
    CHECK(out == sentinel);
    free(half);
    /* A malformed key. */
    o.cert = localhost.cert;
    o.key = "-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n";
    CHECK_RESULT(sack_tcp_open(&o, &out), SACK_TCP_ERR_BAD_PEM);
    CHECK(out == sentinel);
    /* The key of another certificate. */
    o.key = a.key;
    CHECK_RESULT(sack_tcp_open(&o, &out), SACK_TCP_ERR_KEY_MISMATCH);
    CHECK(out == sentinel);

    /* None of the failures left a socket behind (nothing else was opened). */
    CHECK_EQ(sack_tcp_live_handles(), 0);

    /* With the passphrase, both encrypted forms serve. */
    const char *names[2] = {"PKCS#8 encrypted", "legacy encrypted"};
    for (int i = 0; i < 2; i++) {
        sack_tcp_options o = new_options();
        o.cert = localhost.cert;
        o.key = keys[i];
        o.passphrase = "s3cret";
        server srv;
        server_start(&srv, "127.0.0.1", &o);
        srv.echo = true;
        EXPECT_OK(tls_try(&srv, "127.0.0.1", srv.port, &c), names[i]);
        server_stop(&srv);
        server_destroy(&srv);
    }

    free_pair(&localhost);
    free_pair(&a);
    free(p8);
    free(legacy);
    free(ca);
}

/* 6. Each verification failure has its own code at the client. */
TEST(tls_client_verification_failures) {
    char *ca = read_cert("ca.pem");
    struct {
        const char *cert;
        sack_tcp_result code;
    } cases[] = {
        {"untrusted", SACK_TCP_TLS_UNKNOWN_ISSUER},
        {"a.example.com", SACK_TCP_TLS_BAD_NAME},
        {"expired", SACK_TCP_TLS_EXPIRED},
        {"selfsigned", SACK_TCP_TLS_SELF_SIGNED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pem_pair p = load_pair(cases[i].cert);
        sack_tcp_options o = server_options(&p);
        server srv;
        server_start(&srv, "127.0.0.1", &o);
        srv.echo = true;
        sack_tcp_options c = new_options();
        c.ca = ca;
        c.host = "localhost";
        EXPECT_FAIL(tls_try(&srv, "127.0.0.1", srv.port, &c), cases[i].code, cases[i].cert);
        /* Verifying by IP address fails the same way (the names cover
         * 127.0.0.1 where they cover localhost). */
        if (cases[i].code != SACK_TCP_TLS_BAD_NAME) {
            c.host = NULL;
            EXPECT_FAIL(tls_try(&srv, "127.0.0.1", srv.port, &c), cases[i].code, cases[i].cert);
        }
        /* Unverified, the handshake itself is fine. */
        c = new_options();
        c.tls_insecure_skip_verify = true;
        c.host = "localhost";
        EXPECT_OK(tls_try(&srv, "127.0.0.1", srv.port, &c), cases[i].cert);
        server_stop(&srv);
        server_destroy(&srv);
        free_pair(&p);
    }
    free(ca);
}

/* 7. IP SANs and names. */
TEST(tls_ip_and_name_verification) {
    pem_pair localhost = load_pair("localhost"), def = load_pair("default.example.com");
    char *ca = read_cert("ca.pem");
    sack_tcp_options o = server_options(&localhost);
    server v4, v6;
    server_start(&v4, "127.0.0.1", &o);
    v4.echo = true;
    server_start(&v6, "::1", &o);
    v6.echo = true;

    sack_tcp_options c = new_options();
    c.ca = ca;
    EXPECT_OK(tls_try(&v4, "127.0.0.1", v4.port, &c), "127.0.0.1 by IP SAN");
    EXPECT_OK(tls_try(&v6, "::1", v6.port, &c), "::1 by IP SAN");
    c.host = "localhost";
    EXPECT_OK(tls_try(&v4, "127.0.0.1", v4.port, &c), "host localhost at 127.0.0.1");
    EXPECT_OK(tls_try(&v6, "::1", v6.port, &c), "host localhost at ::1");
    c.host = "127.0.0.1";
    EXPECT_OK(tls_try(&v4, "127.0.0.1", v4.port, &c), "host 127.0.0.1 (an IP as host)");
    /* A name the certificate does not carry. */
    c.host = "localhost.localdomain";
    EXPECT_FAIL(tls_try(&v4, "127.0.0.1", v4.port, &c), SACK_TCP_TLS_BAD_NAME, "wrong name");
    server_stop(&v4);
    server_stop(&v6);
    server_destroy(&v4);
    server_destroy(&v6);

    /* The IP really is checked: a certificate without IP SANs fails. */
    o = server_options(&def);
    server d;
    server_start(&d, "127.0.0.1", &o);
    d.echo = true;
    c = new_options();
    c.ca = ca;
    EXPECT_FAIL(tls_try(&d, "127.0.0.1", d.port, &c), SACK_TCP_TLS_BAD_NAME, "no IP SAN");
    c.host = "::1";
    EXPECT_FAIL(tls_try(&d, "127.0.0.1", d.port, &c), SACK_TCP_TLS_BAD_NAME, "no IP SAN (host ::1)");
    server_stop(&d);
    server_destroy(&d);

    free_pair(&localhost);
    free_pair(&def);
    free(ca);
}

/* ---- 8. allowSSLfallback ---- */

static void fallback_server(server *srv, const pem_pair *p, uint32_t handshake_ms) {
    sack_tcp_options o = server_options(p);
    o.allow_ssl_fallback = true;
    o.handshake_timeout_ms = handshake_ms;
    capturing_server_start(srv, "127.0.0.1", &o);
    srv->echo = true;
}

/* (a) A TLS client on a fallback port gets TLS. */
TEST(tls_fallback_tls_client) {
    pem_pair localhost = load_pair("localhost");
    char *ca = read_cert("ca.pem");
    server srv;
    fallback_server(&srv, &localhost, 300);

    sack_tcp_options o = new_options();
    o.ssl = true;
    o.ca = ca;
    recorder cli;
    recorder_init(&cli);
    sack_tcp *c = client_open(&cli, "127.0.0.1", srv.port, &o);
    CHECK_OK(sack_tcp_send(c, "over tls", 8));
    WAIT_UNTIL(cli.data_len == 8 && srv.n_conns == 1 && srv.conns[0].readies == 1);
    CHECK(memcmp(cli.data, "over tls", 8) == 0);
    bool secure = false;
    CHECK_OK(sack_tcp_get_ssl(srv.conns[0].sock, &secure));
    CHECK(secure);
    CHECK_OK(sack_tcp_get_ssl(c, &secure));
    CHECK(secure);
    CHECK_OK(sack_tcp_close(c));
    WAIT_UNTIL(cli.closes == 1 && srv.conns[0].closes == 1);
    CHECK_EQ(cli.errors, 0);
    CHECK_EQ(srv.conns[0].errors, 0);
    CHECK(strncmp(srv.conns[0].log, "CRM", 3) == 0);
    sack_tcp_free(c);
    recorder_destroy(&cli);
    server_stop(&srv);
    server_destroy(&srv);
    free_pair(&localhost);
    free(ca);
}

/* (b) A plain client: its bytes arrive and the server's reply reaches it. */
TEST(tls_fallback_plain_reply) {
    pem_pair localhost = load_pair("localhost");
    server srv;
    fallback_server(&srv, &localhost, 300);

    int fd = raw_connect_nodelay("127.0.0.1", srv.port);
    raw_write_all(fd, "hello", 5);
    expect_raw(fd, "hello");
    WAIT_UNTIL(srv.n_conns == 1 && srv.conns[0].data_len == 5);
    CHECK(memcmp(srv.conns[0].data, "hello", 5) == 0);
    bool secure = true;
    CHECK_OK(sack_tcp_get_ssl(srv.conns[0].sock, &secure));
    CHECK(!secure);
    /* A second exchange on the same connection. */
    raw_write_all(fd, " again", 6);
    expect_raw(fd, " agai");
    expect_raw(fd, "n");
    raw_close_cleanly(fd, &srv);
    CHECK(strncmp(srv.conns[0].log, "CRM", 3) == 0);
    server_stop(&srv);
    server_destroy(&srv);
    free_pair(&localhost);
}

/* (c) A lone 'G' decides plain at once; the rest follows. */
TEST(tls_fallback_first_byte_g) {
    pem_pair localhost = load_pair("localhost");
    server srv;
    fallback_server(&srv, &localhost, 10000);
    srv.echo = false;

    int fd = raw_connect_nodelay("127.0.0.1", srv.port);
    raw_write_all(fd, "G", 1);
    /* Decided on the one byte: delivered long before the 10 s timeout. */
    WAIT_UNTIL_MS(srv.n_conns == 1 && srv.conns[0].data_len == 1, 3000);
    CHECK_EQ(srv.conns[0].data[0], 'G');
    CHECK_EQ(srv.conns[0].readies, 1);
    raw_write_all(fd, "ET /", 4);
    WAIT_UNTIL(srv.conns[0].data_len == 5);
    CHECK(memcmp(srv.conns[0].data, "GET /", 5) == 0);
    CHECK_OK(sack_tcp_send(srv.conns[0].sock, "reply", 5));
    expect_raw(fd, "reply");
    raw_close_cleanly(fd, &srv);
    server_stop(&srv);
    server_destroy(&srv);
    free_pair(&localhost);
}

/* (d) A lone 0x16 could start a ClientHello; the next segment says it does
 * not, and every byte, the 0x16 included, is delivered as plain text. */
TEST(tls_fallback_lone_0x16) {
    pem_pair localhost = load_pair("localhost");
    for (int round = 0; round < 2; round++) {
        server srv;
        /* Round 0: the documented 300 ms server. Round 1: a 10 s timeout,
         * so a delivery within 3 s proves the second segment decided, not
         * the timeout. */
        fallback_server(&srv, &localhost, round == 0 ? 300 : 10000);
        srv.echo = false;
        int fd = raw_connect_nodelay("127.0.0.1", srv.port);
        raw_write_all(fd, "\x16", 1);
        WAIT_UNTIL(srv.n_conns == 1);
        raw_write_all(fd, "plain text after", 16);
        WAIT_UNTIL_MS(srv.conns[0].data_len == 17, round == 0 ? WAIT_MS : 3000);
        CHECK(memcmp(srv.conns[0].data, "\x16plain text after", 17) == 0);
        CHECK_EQ(srv.conns[0].errors, 0);
        CHECK_EQ(srv.conns[0].readies, 1);
        CHECK_OK(sack_tcp_send(srv.conns[0].sock, "ok", 2));
        expect_raw(fd, "ok");
        raw_close_cleanly(fd, &srv);
        server_stop(&srv);
        server_destroy(&srv);
    }
    free_pair(&localhost);
}

/* (e) A silent client is served as plain after the handshake timeout, so
 * a server-speaks-first protocol works. */
TEST(tls_fallback_silent_client) {
    pem_pair localhost = load_pair("localhost");
    server srv;
    fallback_server(&srv, &localhost, 300);
    long long t0 = harness_now_ms();
    int fd = raw_connect_nodelay("127.0.0.1", srv.port);
    WAIT_UNTIL_MS(srv.n_conns == 1 && srv.conns[0].readies == 1, 3000);
    long long elapsed = harness_now_ms() - t0;
    if (elapsed < 295) FAIL("ready after %lld ms, before the 300 ms timeout", elapsed);
    CHECK_EQ(srv.conns[0].errors, 0);
    bool secure = true;
    CHECK_OK(sack_tcp_get_ssl(srv.conns[0].sock, &secure));
    CHECK(!secure);
    CHECK_OK(sack_tcp_send(srv.conns[0].sock, "220 greeting\r\n", 14));
    expect_raw(fd, "220 greeting\r\n");
    /* And the client's answer arrives (echoed back). */
    raw_write_all(fd, "HELO", 4);
    expect_raw(fd, "HELO");
    raw_close_cleanly(fd, &srv);
    server_stop(&srv);
    server_destroy(&srv);
    free_pair(&localhost);
}

/* (f) Without fallback, plain text on a TLS port is error 6 with the bytes. */
TEST(tls_no_fallback_plain_client) {
    pem_pair localhost = load_pair("localhost");
    sack_tcp_options o = server_options(&localhost);
    o.handshake_timeout_ms = 300;
    server srv;
    capturing_server_start(&srv, "127.0.0.1", &o);
    static const char req[] = "GET / HTTP/1.0\r\n\r\n";
    int fd = raw_connect_nodelay("127.0.0.1", srv.port);
    raw_write_all(fd, req, sizeof req - 1);
    WAIT_UNTIL(srv.n_conns == 1 && srv.conns[0].closes == 1);
    recorder sc = snapshot(&srv.conns[0]);
    if (strcmp(sc.log, "CEX") != 0) FAIL("server connection log %s, expected CEX", sc.log);
    errcap e = errcap_of(&srv.conns[0]);
    if (e.code != SACK_TCP_TLS_HANDSHAKE_FAILED)
        FAIL("error %s (%d) \"%s\", expected SACK_TCP_TLS_HANDSHAKE_FAILED", sack_tcp_error_name(e.code),
             (int)e.code, e.message);
    if (e.len < 5 || e.len > sizeof req - 1 || memcmp(e.data, req, e.len) != 0)
        FAIL("error data \"%.*s\" (%zu bytes), expected the request", (int)e.len, (const char *)e.data,
             e.len);
    bool reset;
    raw_read_until_closed(fd, WAIT_MS, &reset);
    close(fd);
    server_stop(&srv);
    server_destroy(&srv);
    free_pair(&localhost);
}

/* (g) The setter: on a plain server it does not apply; on a TLS listener
 * it changes the next connections. */
TEST(tls_fallback_setter) {
    pem_pair localhost = load_pair("localhost");
    server plain;
    server_start(&plain, "127.0.0.1", NULL);
    CHECK_RESULT(sack_tcp_set_allow_ssl_fallback(plain.listener, true), SACK_TCP_ERR_NOT_APPLICABLE);
    server_stop(&plain);
    server_destroy(&plain);

    sack_tcp_options o = server_options(&localhost);
    o.handshake_timeout_ms = 5000;
    server srv;
    capturing_server_start(&srv, "127.0.0.1", &o);
    srv.echo = true;
    int fd = raw_connect_nodelay("127.0.0.1", srv.port);
    raw_write_all(fd, "plain?", 6);
    WAIT_UNTIL(srv.n_conns == 1 && srv.conns[0].closes == 1);
    CHECK_EQ(errcap_of(&srv.conns[0]).code, SACK_TCP_TLS_HANDSHAKE_FAILED);
    close(fd);

    CHECK_OK(sack_tcp_set_allow_ssl_fallback(srv.listener, true));
    fd = raw_connect_nodelay("127.0.0.1", srv.port);
    raw_write_all(fd, "plain!", 6);
    expect_raw(fd, "plain!");
    close(fd);
    WAIT_UNTIL(srv.n_conns == 2 && srv.conns[1].closes == 1);
    CHECK_EQ(srv.conns[1].errors, 0);

    CHECK_OK(sack_tcp_set_allow_ssl_fallback(srv.listener, false));
    fd = raw_connect_nodelay("127.0.0.1", srv.port);
    raw_write_all(fd, "plain?", 6);
    WAIT_UNTIL(srv.n_conns == 3 && srv.conns[2].closes == 1);
    CHECK_EQ(errcap_of(&srv.conns[2]).code, SACK_TCP_TLS_HANDSHAKE_FAILED);
    close(fd);
    server_stop(&srv);
    server_destroy(&srv);
    free_pair(&localhost);
}

/* ---- 9, 10. STARTTLS ---- */

static struct {
    bool srv_upgraded, cli_upgraded;
    sack_tcp_result srv_rc, cli_rc;
    const char *send_after; /* the client sends this right after set_ssl */
} stt = {false, false, 1, 1, NULL};

/* Server: "STARTTLS\n" → "GO\n", then upgrade; after that, echo. */
static void stt_server_message(void *ud, sack_tcp *s, const uint8_t *data, size_t len) {
    recorder *r = ud;
    rec_on_message(ud, s, data, len);
    harness_lock();
    bool cmd = !stt.srv_upgraded && r->data_len == 9 && memcmp(r->data, "STARTTLS\n", 9) == 0;
    bool after = stt.srv_upgraded;
    if (cmd) stt.srv_upgraded = true;
    harness_unlock();
    if (cmd) {
        CHECK_OK(sack_tcp_send(s, "GO\n", 3));
        sack_tcp_result rc = sack_tcp_set_ssl(s, true);
        harness_lock();
        stt.srv_rc = rc;
        harness_unlock();
    } else if (after) {
        CHECK_OK(sack_tcp_send(s, data, len));
    }
}

/* Client: on "GO\n" (or "UPGRADE\n"), upgrade. */
static void stt_client_message(void *ud, sack_tcp *s, const uint8_t *data, size_t len) {
    recorder *r = ud;
    rec_on_message(ud, s, data, len);
    harness_lock();
    bool go = !stt.cli_upgraded &&
              ((r->data_len == 3 && memcmp(r->data, "GO\n", 3) == 0) ||
               (r->data_len == 8 && memcmp(r->data, "UPGRADE\n", 8) == 0));
    if (go) stt.cli_upgraded = true;
    harness_unlock();
    if (go) {
        sack_tcp_result rc = sack_tcp_set_ssl(s, true);
        /* Sent during the handshake: held, then encrypted. */
        if (rc == SACK_TCP_OK && stt.send_after)
            CHECK_OK(sack_tcp_send(s, stt.send_after, strlen(stt.send_after)));
        harness_lock();
        stt.cli_rc = rc;
        harness_unlock();
    }
}

/* Server: on the first (plain) ready, announce and upgrade at once. */
static void stt_server_ready(void *ud, sack_tcp *s) {
    recorder *r = ud;
    rec_on_ready(ud, s);
    harness_lock();
    bool first = !stt.srv_upgraded && r->readies == 1;
    if (first) stt.srv_upgraded = true;
    harness_unlock();
    if (first) {
        CHECK_OK(sack_tcp_send(s, "UPGRADE\n", 8));
        sack_tcp_result rc = sack_tcp_set_ssl(s, true);
        harness_lock();
        stt.srv_rc = rc;
        harness_unlock();
    }
}

static void check_secure(sack_tcp *s, bool expected) {
    bool secure = !expected;
    CHECK_OK(sack_tcp_get_ssl(s, &secure));
    CHECK_EQ(secure, expected);
}

TEST(tls_starttls_client_initiates) {
    pem_pair localhost = load_pair("localhost");
    char *ca = read_cert("ca.pem");
    sack_tcp_options o = server_options(&localhost);
    o.starttls = true;
    server srv;
    capturing_server_start(&srv, "127.0.0.1", &o);
    CHECK_OK(sack_tcp_on_message(srv.listener, stt_server_message));

    o = new_options();
    o.ca = ca; /* ssl stays false: the client starts plain */
    recorder cli;
    recorder_init(&cli);
    sack_tcp *c = open_client(&cli, "127.0.0.1", srv.port, &o, stt_client_message, NULL);
    WAIT_UNTIL(cli.readies == 1 && srv.n_conns == 1 && srv.conns[0].readies == 1);
    check_secure(c, false);
    check_secure(srv.conns[0].sock, false);
    CHECK_OK(sack_tcp_set_ssl(c, false)); /* nothing to do on a plain one */
    char alpn[16] = "x";
    CHECK_OK(sack_tcp_get_alpn(c, alpn, sizeof alpn));
    CHECK_STR(alpn, "");
    CHECK_OK(sack_tcp_send(c, "STARTTLS\n", 9));

    WAIT_UNTIL(cli.readies == 2 && srv.conns[0].readies == 2);
    CHECK_EQ(stt.srv_rc, SACK_TCP_OK);
    CHECK_EQ(stt.cli_rc, SACK_TCP_OK);
    check_secure(c, true);
    check_secure(srv.conns[0].sock, true);
    CHECK_OK(sack_tcp_send(c, "secret payload", 14));
    WAIT_UNTIL(cli.data_len == 3 + 14);
    CHECK(memcmp(cli.data, "GO\nsecret payload", 17) == 0);
    CHECK_EQ(srv.conns[0].data_len, 9 + 14);
    CHECK(memcmp(srv.conns[0].data, "STARTTLS\nsecret payload", 23) == 0);

    CHECK_RESULT(sack_tcp_set_ssl(c, false), SACK_TCP_ERR_NOT_APPLICABLE);
    CHECK_RESULT(sack_tcp_set_ssl(srv.conns[0].sock, false), SACK_TCP_ERR_NOT_APPLICABLE);
    CHECK_OK(sack_tcp_set_ssl(c, true)); /* already TLS: nothing to do */
    check_secure(c, true);

    CHECK_OK(sack_tcp_close(c));
    WAIT_UNTIL(cli.closes == 1 && srv.conns[0].closes == 1);
    CHECK_EQ(cli.errors, 0);
    CHECK_EQ(srv.conns[0].errors, 0);
    CHECK_EQ(cli.readies, 2);
    CHECK_EQ(srv.conns[0].readies, 2);
    sack_tcp_free(c);
    recorder_destroy(&cli);
    server_stop(&srv);
    server_destroy(&srv);
    free_pair(&localhost);
    free(ca);
}

TEST(tls_starttls_server_initiates) {
    pem_pair localhost = load_pair("localhost");
    char *ca = read_cert("ca.pem");
    sack_tcp_options o = server_options(&localhost);
    o.starttls = true;
    server srv;
    capturing_server_start(&srv, "127.0.0.1", &o);
    srv.echo = true; /* the client sends nothing before TLS */
    CHECK_OK(sack_tcp_on_ready(srv.listener, stt_server_ready));
    stt.send_after = "sent-right-after\n";

    o = new_options();
    o.ca = ca;
    recorder cli;
    recorder_init(&cli);
    sack_tcp *c = open_client(&cli, "127.0.0.1", srv.port, &o, stt_client_message, NULL);
    WAIT_UNTIL(cli.readies == 2 && srv.n_conns == 1 && srv.conns[0].readies == 2);
    CHECK_EQ(stt.srv_rc, SACK_TCP_OK);
    CHECK_EQ(stt.cli_rc, SACK_TCP_OK);
    check_secure(c, true);
    check_secure(srv.conns[0].sock, true);
    CHECK_OK(sack_tcp_send(c, "after upgrade", 13));
    WAIT_UNTIL(cli.data_len == 8 + 17 + 13);
    CHECK(memcmp(cli.data, "UPGRADE\nsent-right-after\nafter upgrade", 38) == 0);
    CHECK_EQ(srv.conns[0].data_len, 17 + 13);
    CHECK(memcmp(srv.conns[0].data, "sent-right-after\nafter upgrade", 30) == 0);
    close_cleanly(c, &cli, &srv);
    recorder_destroy(&cli);
    server_stop(&srv);
    server_destroy(&srv);
    free_pair(&localhost);
    free(ca);
}

/* STARTTLS needs certificates on the server side. */
TEST(tls_starttls_plain_server_refuses) {
    server srv;
    server_start(&srv, "127.0.0.1", NULL);
    recorder cli;
    recorder_init(&cli);
    sack_tcp *c = client_open(&cli, "127.0.0.1", srv.port, NULL);
    WAIT_UNTIL(cli.readies == 1 && srv.n_conns == 1 && srv.conns[0].readies == 1);
    CHECK_RESULT(sack_tcp_set_ssl(srv.conns[0].sock, true), SACK_TCP_ERR_NOT_APPLICABLE);
    CHECK_OK(sack_tcp_set_ssl(srv.conns[0].sock, false));
    check_secure(srv.conns[0].sock, false);
    close_cleanly(c, &cli, &srv);
    recorder_destroy(&cli);
    server_stop(&srv);
    server_destroy(&srv);
}

/* ---- 11-13. Interop with other TLS stacks ---- */

TEST(tls_openssl_s_server_interop) {
    child s;
    uint16_t port = child_start_s_server(&s);

    char *ca = read_cert("ca.pem");
    sack_tcp_options o = new_options();
    o.ssl = true;
    o.ca = ca;
    o.host = "localhost";
    recorder cli;
    recorder_init(&cli);
    sack_tcp *c = open_client(&cli, "127.0.0.1", (uint16_t)port, &o, NULL, NULL);
    CHECK_OK(sack_tcp_send(c, "hello-from-sack\n", 16));
    WAIT_UNTIL(cli.readies == 1 || cli.closes == 1);
    if (cli.readies != 1)
        FAIL("handshake with s_server failed: log %s; s_server printed:\n%s", cli.log, s.out);
    child_expect(&s, "hello-from-sack\n", WAIT_MS);
    child_write(&s, "hello-from-s_server\n");
    WAIT_UNTIL(cli.data_len >= 20 || cli.closes == 1);
    CHECK_EQ(cli.data_len, 20);
    CHECK(memcmp(cli.data, "hello-from-s_server\n", 20) == 0);
    CHECK_OK(sack_tcp_close(c));
    child_finish(&s); /* kills s_server, which ends the connection too */
    WAIT_UNTIL(cli.closes == 1);
    /* The bytes sent before ready waited in the queue: drain follows ready. */
    if (strncmp(cli.log, "CRM", 3) != 0 && strncmp(cli.log, "CRDM", 4) != 0) FAIL("client log %s", cli.log);
    sack_tcp_free(c);
    recorder_destroy(&cli);
    free(ca);
}

TEST(tls_openssl_s_client_interop) {
    pem_pair localhost = load_pair("localhost");
    sack_tcp_options o = server_options(&localhost);
    server srv;
    capturing_server_start(&srv, "127.0.0.1", &o);
    srv.echo = true;

    char ca[512], connect[64];
    cert_path(ca, sizeof ca, "ca.pem");
    snprintf(connect, sizeof connect, "127.0.0.1:%u", (unsigned)srv.port);
    char *argv[] = {"openssl", "s_client", "-connect", connect, "-CAfile", ca, "-servername", "localhost",
                    "-verify_hostname", "localhost", "-verify_return_error", "-quiet", NULL};
    child s;
    child_spawn(&s, argv);
    child_write(&s, "hello-from-s_client\n");
    WAIT_UNTIL(srv.n_conns == 1);
    child_expect(&s, "hello-from-s_client\n", WAIT_MS);
    WAIT_UNTIL(srv.conns[0].data_len == 20);
    CHECK(memcmp(srv.conns[0].data, "hello-from-s_client\n", 20) == 0);
    bool secure = false;
    CHECK_OK(sack_tcp_get_ssl(srv.conns[0].sock, &secure));
    CHECK(secure);
    /* The server closes: close_notify, then FIN; s_client ends by itself,
     * and would have printed an error for a missing close_notify. */
    CHECK_OK(sack_tcp_close(srv.conns[0].sock));
    int status = child_wait_exit(&s, WAIT_MS);
    if (memmem(s.out, s.out_len, "unexpected eof", 14) || memmem(s.out, s.out_len, "error", 5))
        FAIL("s_client reported a problem:\n%s", s.out);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        FAIL("s_client exit status %d; it printed:\n%s", status, s.out);
    WAIT_UNTIL(srv.conns[0].closes == 1);
    CHECK_EQ(srv.conns[0].errors, 0);
    child_finish(&s);
    server_stop(&srv);
    server_destroy(&srv);
    free_pair(&localhost);
}

TEST(tls_python_ssl_client) {
    pem_pair localhost = load_pair("localhost");
    sack_tcp_options o = server_options(&localhost);
    server srv;
    capturing_server_start(&srv, "127.0.0.1", &o);
    srv.echo = true;

    /* The script sits next to this file. */
    char script[1024];
    const char *slash = strrchr(__FILE__, '/');
    if (!slash) FAIL("cannot locate c_tests/peers from %s", __FILE__);
    snprintf(script, sizeof script, "%.*s/peers/tls_echo_client.py", (int)(slash - __FILE__), __FILE__);
    if (access(script, R_OK) != 0) FAIL("missing %s", script);
    char ca[512], port[16];
    cert_path(ca, sizeof ca, "ca.pem");
    snprintf(port, sizeof port, "%u", (unsigned)srv.port);
    char *argv[] = {"python3", script, "127.0.0.1", port, ca, "localhost", "hello-from-python", NULL};
    child p;
    child_spawn(&p, argv);
    int status = child_wait_exit(&p, WAIT_MS);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        FAIL("python3 exit status %d (127: not installed); it printed:\n%s", status, p.out);
    CHECK_STR(p.out, "ECHO hello-from-python\n");
    WAIT_UNTIL(srv.n_conns == 1 && srv.conns[0].closes == 1);
    CHECK_EQ(srv.conns[0].data_len, 18);
    CHECK(memcmp(srv.conns[0].data, "hello-from-python\n", 18) == 0);
    CHECK_EQ(srv.conns[0].errors, 0);
    child_finish(&p);
    server_stop(&srv);
    server_destroy(&srv);
    free_pair(&localhost);
}

/* 14. ALPN. */
TEST(tls_alpn) {
    pem_pair localhost = load_pair("localhost");
    char *ca = read_cert("ca.pem");
    sack_tcp_options o = server_options(&localhost);
    o.alpn = "h2,http/1.1";
    server srv;
    capturing_server_start(&srv, "127.0.0.1", &o);

    const char *offers[2] = {"http/1.1", NULL};
    const char *expect[2] = {"http/1.1", ""};
    for (int i = 0; i < 2; i++) {
        o = new_options();
        o.ssl = true;
        o.ca = ca;
        o.alpn = offers[i];
        recorder cli;
        recorder_init(&cli);
        sack_tcp *c = open_client(&cli, "127.0.0.1", srv.port, &o, NULL, NULL);
        WAIT_UNTIL(cli.readies == 1 && srv.n_conns == i + 1 && srv.conns[i].readies == 1);
        char buf[32];
        memset(buf, 'x', sizeof buf);
        CHECK_OK(sack_tcp_get_alpn(c, buf, sizeof buf));
        CHECK_STR(buf, expect[i]);
        memset(buf, 'x', sizeof buf);
        CHECK_OK(sack_tcp_get_alpn(srv.conns[i].sock, buf, sizeof buf));
        CHECK_STR(buf, expect[i]);
        if (i == 0) {
            /* "http/1.1" and its NUL need 9 bytes. */
            CHECK_RESULT(sack_tcp_get_alpn(c, buf, 8), SACK_TCP_ERR_INVALID_ARGUMENT);
            CHECK_OK(sack_tcp_get_alpn(c, buf, 9));
            CHECK_STR(buf, "http/1.1");
        }
        CHECK_OK(sack_tcp_close(c));
        WAIT_UNTIL(cli.closes == 1 && srv.conns[i].closes == 1);
        CHECK_EQ(cli.errors, 0);
        CHECK_EQ(srv.conns[i].errors, 0);
        sack_tcp_free(c);
        recorder_destroy(&cli);
    }
    server_stop(&srv);
    server_destroy(&srv);

    /* A plain connection has none. */
    server plain;
    server_start(&plain, "127.0.0.1", NULL);
    recorder cli;
    recorder_init(&cli);
    sack_tcp *c = client_open(&cli, "127.0.0.1", plain.port, NULL);
    WAIT_UNTIL(cli.readies == 1 && plain.n_conns == 1 && plain.conns[0].readies == 1);
    char buf[8] = "xxxxxxx";
    CHECK_OK(sack_tcp_get_alpn(c, buf, sizeof buf));
    CHECK_STR(buf, "");
    memcpy(buf, "xxxxxxx", 8);
    CHECK_OK(sack_tcp_get_alpn(plain.conns[0].sock, buf, sizeof buf));
    CHECK_STR(buf, "");
    CHECK_OK(sack_tcp_close(c));
    WAIT_UNTIL(cli.closes == 1 && plain.conns[0].closes == 1);
    sack_tcp_free(c);
    recorder_destroy(&cli);
    server_stop(&plain);
    server_destroy(&plain);
    free_pair(&localhost);
    free(ca);
}

/* 15. Client certificates. */
TEST(tls_mtls) {
    pem_pair localhost = load_pair("localhost"), client = load_pair("client");
    char *ca = read_cert("ca.pem");

    sack_tcp_options o = server_options(&localhost);
    o.ca = ca;
    o.client_auth = SACK_TCP_CLIENT_AUTH_REQUIRE;
    server srv;
    capturing_server_start(&srv, "127.0.0.1", &o);
    srv.echo = true;

    sack_tcp_options with = new_options();
    with.ca = ca;
    with.cert = client.cert;
    with.key = client.key;
    sack_tcp_options without = new_options();
    without.ca = ca;

    EXPECT_OK(tls_try(&srv, "127.0.0.1", srv.port, &with), "REQUIRE with a certificate");
    /* Without a certificate: refused. No "no ready" check: in TLS 1.3 the
     * client's side of the handshake is complete (ready) before the server
     * has looked at its certificate, so the refusal can only come after. */
    outcome u = tls_try(&srv, "127.0.0.1", srv.port, &without);
    if (u.echoed) FAIL("REQUIRE without a certificate: the echo worked");
    if (u.errors != 1 || u.code == 0 || u.log[0] != 'C' || u.log[strlen(u.log) - 1] != 'X' ||
        strchr(u.log, 'M'))
        FAIL("REQUIRE without a certificate: client log %s, error %s", u.log, sack_tcp_error_name(u.code));
    {
        recorder sc = snapshot(&srv.conns[u.conn]);
        if (strcmp(sc.log, "CEX") != 0)
            FAIL("REQUIRE without a certificate: server connection log %s", sc.log);
        errcap se = errcap_of(&srv.conns[u.conn]);
        if (se.code != SACK_TCP_TLS_HANDSHAKE_FAILED && se.code != SACK_TCP_TLS_BAD_CERTIFICATE)
            FAIL("REQUIRE without a certificate: server error %s \"%s\"", sack_tcp_error_name(se.code),
                 se.message);
    }

    server_stop(&srv);
    server_destroy(&srv);

    o.client_auth = SACK_TCP_CLIENT_AUTH_REQUEST;
    capturing_server_start(&srv, "127.0.0.1", &o);
    srv.echo = true;
    EXPECT_OK(tls_try(&srv, "127.0.0.1", srv.port, &without), "REQUEST without a certificate");
    EXPECT_OK(tls_try(&srv, "127.0.0.1", srv.port, &with), "REQUEST with a certificate");
    server_stop(&srv);
    server_destroy(&srv);

    /* Again REQUIRE, with a certificate from a CA the server does not trust. */
    o.client_auth = SACK_TCP_CLIENT_AUTH_REQUIRE;
    capturing_server_start(&srv, "127.0.0.1", &o);
    srv.echo = true;
    /* The server rejected a client certificate: the header's error 5. */
    pem_pair untrusted = load_pair("untrusted");
    sack_tcp_options bad = with;
    bad.cert = untrusted.cert;
    bad.key = untrusted.key;
    u = tls_try(&srv, "127.0.0.1", srv.port, &bad);
    if (u.echoed || u.errors != 1 || u.code == 0)
        FAIL("REQUIRE with an untrusted certificate: client log %s, error %s", u.log,
             sack_tcp_error_name(u.code));
    {
        recorder sc = snapshot(&srv.conns[u.conn]);
        if (strcmp(sc.log, "CEX") != 0)
            FAIL("untrusted client certificate: server connection log %s", sc.log);
        errcap se = errcap_of(&srv.conns[u.conn]);
        if (se.code != SACK_TCP_TLS_BAD_CERTIFICATE)
            FAIL("untrusted client certificate: server error %s (%d) \"%s\", expected "
                 "SACK_TCP_TLS_BAD_CERTIFICATE (5); client saw %s \"%s\"",
                 sack_tcp_error_name(se.code), (int)se.code, se.message, sack_tcp_error_name(u.code),
                 u.message);
    }
    free_pair(&untrusted);
    server_stop(&srv);
    server_destroy(&srv);

    /* client_auth without ca is refused at open. */
    o.ca = NULL;
    o.address = "127.0.0.1";
    sack_tcp *out = NULL;
    CHECK_RESULT(sack_tcp_open(&o, &out), SACK_TCP_ERR_INVALID_ARGUMENT);
    CHECK(out == NULL);

    free_pair(&localhost);
    free_pair(&client);
    free(ca);
}

/* 16. Hostile peers against a TLS server; a fresh client works after each. */
TEST(tls_hostile_peers) {
    pem_pair localhost = load_pair("localhost");
    char *ca = read_cert("ca.pem");
    size_t hello_len;
    unsigned char *hello = capture_client_hello(&hello_len);
    CHECK(hello_len > 40);

    sack_tcp_options o = server_options(&localhost);
    o.handshake_timeout_ms = 300;
    server srv;
    capturing_server_start(&srv, "127.0.0.1", &o);
    srv.echo = true;
    sack_tcp_options good = new_options();
    good.ca = ca;
    int n = 0; /* connections so far */

    /* Garbage: error 6 with the bytes, then close. */
    unsigned char garbage[200];
    memset(garbage, 0xAB, sizeof garbage);
    int fd = raw_connect_nodelay("127.0.0.1", srv.port);
    raw_write_all(fd, garbage, sizeof garbage);
    WAIT_UNTIL(srv.n_conns == n + 1 && srv.conns[n].closes == 1);
    {
        recorder sc = snapshot(&srv.conns[n]);
        if (strcmp(sc.log, "CEX") != 0) FAIL("garbage: server connection log %s", sc.log);
        errcap e = errcap_of(&srv.conns[n]);
        CHECK_EQ(e.code, SACK_TCP_TLS_HANDSHAKE_FAILED);
        CHECK(e.len >= 1 && e.len <= sizeof garbage && memcmp(e.data, garbage, e.len) == 0);
    }
    bool reset;
    raw_read_until_closed(fd, WAIT_MS, &reset);
    close(fd);
    n++;
    EXPECT_OK(tls_try(&srv, "127.0.0.1", srv.port, &good), "after garbage");
    n++;

    /* A truncated ClientHello, then EOF: closed, never ready. */
    fd = raw_connect_nodelay("127.0.0.1", srv.port);
    raw_write_all(fd, hello, 40);
    shutdown(fd, SHUT_WR);
    WAIT_UNTIL(srv.n_conns == n + 1 && srv.conns[n].closes == 1);
    {
        recorder sc = snapshot(&srv.conns[n]);
        CHECK_EQ(sc.readies, 0);
        CHECK_EQ(sc.messages, 0);
        if (sc.errors) {
            errcap e = errcap_of(&srv.conns[n]);
            if (e.code != SACK_TCP_TLS_HANDSHAKE_FAILED)
                FAIL("truncated hello: error %s \"%s\"", sack_tcp_error_name(e.code), e.message);
        }
        fprintf(stderr, "note: truncated hello + EOF: server connection log %s\n", sc.log);
    }
    raw_read_until_closed(fd, WAIT_MS, &reset);
    close(fd);
    n++;
    EXPECT_OK(tls_try(&srv, "127.0.0.1", srv.port, &good), "after truncated hello");
    n++;

    /* A reset in the middle of the handshake. */
    fd = raw_connect_nodelay("127.0.0.1", srv.port);
    raw_write_all(fd, hello, 40);
    WAIT_UNTIL(srv.n_conns == n + 1);
    raw_reset(fd);
    WAIT_UNTIL(srv.conns[n].closes == 1);
    {
        recorder sc = snapshot(&srv.conns[n]);
        CHECK_EQ(sc.readies, 0);
        CHECK_EQ(sc.messages, 0);
        fprintf(stderr, "note: reset mid-handshake: server connection log %s\n", sc.log);
    }
    n++;
    EXPECT_OK(tls_try(&srv, "127.0.0.1", srv.port, &good), "after reset");
    n++;

    /* A whole ClientHello, then silence: the handshake timeout. */
    long long t0 = harness_now_ms();
    fd = raw_connect_nodelay("127.0.0.1", srv.port);
    raw_write_all(fd, hello, hello_len);
    WAIT_UNTIL_MS(srv.n_conns == n + 1 && srv.conns[n].closes == 1, 300 + 2700);
    long long elapsed = harness_now_ms() - t0;
    {
        recorder sc = snapshot(&srv.conns[n]);
        if (strcmp(sc.log, "CEX") != 0) FAIL("silent: server connection log %s", sc.log);
        errcap e = errcap_of(&srv.conns[n]);
        if (e.code != SACK_TCP_ERR_TIMED_OUT)
            FAIL("silent: error %s \"%s\", expected SACK_TCP_ERR_TIMED_OUT", sack_tcp_error_name(e.code),
                 e.message);
        if (elapsed < 295) FAIL("timed out after %lld ms, before the 300 ms timeout", elapsed);
    }
    raw_read_until_closed(fd, WAIT_MS, &reset);
    close(fd);
    n++;
    EXPECT_OK(tls_try(&srv, "127.0.0.1", srv.port, &good), "after a silent client");
    n++;

    /* A client that connects and says nothing at all also times out. */
    fd = raw_connect_nodelay("127.0.0.1", srv.port);
    WAIT_UNTIL_MS(srv.n_conns == n + 1 && srv.conns[n].closes == 1, 300 + 2700);
    CHECK_EQ(errcap_of(&srv.conns[n]).code, SACK_TCP_ERR_TIMED_OUT);
    raw_read_until_closed(fd, WAIT_MS, &reset);
    close(fd);
    n++;
    EXPECT_OK(tls_try(&srv, "127.0.0.1", srv.port, &good), "after a mute client");

    server_stop(&srv);
    server_destroy(&srv);
    free(hello);
    free_pair(&localhost);
    free(ca);
}

/* 17. A graceful close right after a large send loses nothing. */
TEST(tls_graceful_close_notify) {
    enum { N = 256 * 1024 };
    pem_pair localhost = load_pair("localhost");
    char *ca = read_cert("ca.pem");
    sack_tcp_options o = server_options(&localhost);
    server srv;
    capturing_server_start(&srv, "127.0.0.1", &o);
    unsigned char *buf = malloc(N);
    CHECK(buf != NULL);
    fill_random(buf, N, 77);
    uint32_t crc = crc32_update(0, buf, N);

    /* Round 0: send and close after ready. Round 1: send and close while
     * the handshake is still running: the client reaches the server
     * through a relay that starts forwarding only after the close call, so
     * the handshake cannot have finished before it. (A close before the
     * TCP connect would cancel the attempt, as documented.) */
    for (int round = 0; round < 2; round++) {
        o = new_options();
        o.ssl = true;
        o.ca = ca;
        recorder cli;
        recorder_init(&cli);
        uint16_t relay_port = 0;
        int lfd = -1, near = -1, far = -1;
        sack_tcp *c;
        if (round == 0) {
            c = open_client(&cli, "127.0.0.1", srv.port, &o, NULL, NULL);
            WAIT_UNTIL(cli.readies == 1);
        } else {
            lfd = raw_listen("127.0.0.1", &relay_port, 4);
            c = open_client(&cli, "127.0.0.1", relay_port, &o, NULL, NULL);
            near = raw_accept(lfd, WAIT_MS);
            WAIT_UNTIL(cli.connects == 1);
        }
        CHECK_EQ(cli.connect_status, SACK_TCP_OK);
        send_in_pieces(c, buf, N);
        CHECK_OK(sack_tcp_close(c));
        if (round == 1) {
            CHECK_EQ(cli.readies, 0);
            far = raw_connect_nodelay("127.0.0.1", srv.port);
            relay(near, far, WAIT_MS);
            close(near);
            close(far);
            close(lfd);
        }
        long long deadline = harness_now_ms() + WAIT_MS;
        harness_lock();
        while (!(cli.closes == 1 && srv.n_conns == round + 1 && srv.conns[round].closes == 1)) {
            if (!harness_wait(deadline)) {
                harness_unlock();
                if (srv.rec.errors) {
                    errcap e = errcap_of(&srv.rec);
                    fprintf(stderr, "listener error %s \"%s\"\n", sack_tcp_error_name(e.code), e.message);
                }
                FAIL("round %d: not closed within %d ms: client log %s, server connections %d, "
                     "server log %s with %zu of %d bytes; listener log %s",
                     round, WAIT_MS, cli.log, srv.n_conns, srv.n_conns > round ? srv.conns[round].log : "-",
                     srv.n_conns > round ? srv.conns[round].data_len : 0, N, srv.rec.log);
            }
        }
        harness_unlock();
        recorder sc = snapshot(&srv.conns[round]);
        if (sc.errors) {
            errcap e = errcap_of(&srv.conns[round]);
            if (cli.errors) {
                errcap ce = errcap_of(&cli);
                fprintf(stderr, "round %d: client error %s \"%s\"\n", round, sack_tcp_error_name(ce.code),
                        ce.message);
            }
            FAIL("round %d: server error %s \"%s\" (%zu of %d bytes received; client log %s)", round,
                 sack_tcp_error_name(e.code), e.message, sc.data_len, N, cli.log);
        }
        if (sc.data_len != N || crc32_update(0, sc.data, N) != crc)
            FAIL("round %d: server received %zu of %d bytes (log %s, client log %s)", round, sc.data_len, N,
                 sc.log, cli.log);
        if (cli.errors) {
            errcap e = errcap_of(&cli);
            FAIL("round %d: client error %s \"%s\"", round, sack_tcp_error_name(e.code), e.message);
        }
        /* Ready never fires once the socket was closed (see the header). */
        CHECK_EQ(cli.readies, round == 0 ? 1 : 0);
        sack_tcp_free(c);
        recorder_destroy(&cli);
    }
    server_stop(&srv);
    server_destroy(&srv);
    free(buf);
    free_pair(&localhost);
    free(ca);
}

/* Sends made while a read's plaintext is delivered (here: three replies
 * from the server's message callback) wait, counted as queued, and leave
 * in one write when the delivery ends. */
static struct {
    size_t queued_after_sends;
    int replies;
} corked;

static void corked_server_message(void *ud, sack_tcp *s, const uint8_t *data, size_t len) {
    (void)data;
    (void)len;
    CHECK_OK(sack_tcp_send(s, "a", 1));
    CHECK_OK(sack_tcp_send(s, "bb", 2));
    CHECK_OK(sack_tcp_send(s, "ccc", 3));
    size_t queued = 0;
    CHECK_OK(sack_tcp_get_queued_bytes(s, &queued));
    harness_lock();
    corked.queued_after_sends = queued;
    corked.replies++;
    harness_unlock();
    rec_on_message(ud, s, data, len);
}

TEST(tls_sends_from_a_callback_leave_together) {
    pem_pair localhost = load_pair("localhost");
    char *ca = read_cert("ca.pem");
    sack_tcp_options o = server_options(&localhost);
    server srv;
    server_start(&srv, "127.0.0.1", &o);
    CHECK_OK(sack_tcp_on_message(srv.listener, corked_server_message));

    o = new_options();
    o.ssl = true;
    o.ca = ca;
    recorder cli;
    recorder_init(&cli);
    sack_tcp *c = client_open(&cli, "127.0.0.1", srv.port, &o);
    WAIT_UNTIL(cli.readies == 1);
    CHECK_OK(sack_tcp_send(c, "?", 1));
    WAIT_UNTIL(cli.data_len == 6);
    CHECK(memcmp(cli.data, "abbccc", 6) == 0);
    CHECK_EQ(corked.replies, 1);
    /* Nothing was written during the callback, although the socket was
     * writable: all six bytes were still held. */
    CHECK_EQ(corked.queued_after_sends, 6);
    size_t queued = 1;
    WAIT_UNTIL(srv.n_conns == 1);
    CHECK_OK(sack_tcp_get_queued_bytes(srv.conns[0].sock, &queued));
    CHECK_EQ(queued, 0);

    close_cleanly(c, &cli, &srv);
    server_stop(&srv);
    server_destroy(&srv);
    recorder_destroy(&cli);
    free_pair(&localhost);
    free(ca);
}

/* Issue 14's TLS features: the post-quantum key exchange preferred, and
 * inspecting a connection after its handshake (version, suite, group,
 * resumption, SNI, the peer's certificates), checked against what the
 * openssl CLI reports for the same certificates and connections. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#include "child.h"

/* Runs a command to completion and returns what it printed (free it). */
static char *run(char *const argv[], size_t *len) {
    child c;
    child_spawn(&c, argv);
    close(c.in_fd);
    c.in_fd = -1;
    int status = child_wait_exit(&c, WAIT_MS);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        FAIL("%s exited with status %d; it printed:\n%s", argv[0], status, c.out);
    char *out = c.out;
    if (len) *len = c.out_len;
    c.out = NULL;
    child_finish(&c);
    return out;
}

/* The text after `key` up to the end of its line, in `text`. */
static void line_after(const char *text, const char *key, char *buf, size_t n) {
    const char *at = strstr(text, key);
    if (!at) FAIL("no \"%s\" in:\n%s", key, text);
    at += strlen(key);
    size_t k = strcspn(at, "\r\n");
    if (k >= n) FAIL("\"%s\" line too long", key);
    memcpy(buf, at, k);
    buf[k] = 0;
}

/* ---- what openssl says of a certificate file ---- */

typedef struct openssl_cert {
    unsigned char sha256[32];
    char subject[256];
    long long not_before, not_after;
    unsigned char *der;
    size_t der_len;
} openssl_cert;

static long long iso_seconds(const char *text) {
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (sscanf(text, "%d-%d-%d %d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
               &tm.tm_sec) != 6)
        FAIL("not an ISO date: %s", text);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (long long)timegm(&tm);
}

static openssl_cert openssl_describe(const char *name) {
    char path[512];
    cert_path(path, sizeof path, name);
    char *info_argv[] = {"openssl", "x509", "-in", path, "-noout", "-fingerprint", "-sha256", "-subject",
                         "-nameopt", "RFC2253", "-dates", "-dateopt", "iso_8601", NULL};
    char *text = run(info_argv, NULL);
    openssl_cert c;
    memset(&c, 0, sizeof c);
    char line[256];
    line_after(text, "Fingerprint=", line, sizeof line);
    for (int i = 0; i < 32; i++) {
        unsigned v;
        if (sscanf(line + 3 * i, "%2x", &v) != 1) FAIL("bad fingerprint %s", line);
        c.sha256[i] = (unsigned char)v;
    }
    line_after(text, "subject=", c.subject, sizeof c.subject);
    line_after(text, "notBefore=", line, sizeof line);
    c.not_before = iso_seconds(line);
    line_after(text, "notAfter=", line, sizeof line);
    c.not_after = iso_seconds(line);
    free(text);
    char *der_argv[] = {"openssl", "x509", "-in", path, "-outform", "DER", NULL};
    c.der = (unsigned char *)run(der_argv, &c.der_len);
    CHECK(c.der_len > 100);
    return c;
}

/* Checks the peer leaf that `s` reports against openssl's view of it. */
static void check_peer_is(sack_tcp *s, const sack_tcp_tls_info *info, const openssl_cert *want,
                          const char *const *sans, int n_sans) {
    CHECK(info->peer_certificate_count >= 1);
    if (memcmp(info->peer_sha256, want->sha256, 32) != 0) FAIL("the SHA-256 fingerprints differ");
    CHECK_EQ(info->peer_not_before, want->not_before);
    CHECK_EQ(info->peer_not_after, want->not_after);
    CHECK_EQ(info->peer_san_count, n_sans);

    size_t len = 0;
    CHECK_OK(sack_tcp_get_peer_subject(s, NULL, 0, &len));
    CHECK_EQ(len, strlen(want->subject));
    char subject[256];
    CHECK_OK(sack_tcp_get_peer_subject(s, subject, sizeof subject, &len));
    CHECK_STR(subject, want->subject);
    for (int i = 0; i < n_sans; i++) {
        char san[128];
        CHECK_OK(sack_tcp_get_peer_san(s, (size_t)i, san, sizeof san, &len));
        CHECK_STR(san, sans[i]);
        CHECK_EQ(len, strlen(sans[i]));
    }
    CHECK_RESULT(sack_tcp_get_peer_san(s, (size_t)n_sans, subject, sizeof subject, &len),
                 SACK_TCP_ERR_INVALID_ARGUMENT);

    /* The DER, leaf first, is the file's certificate byte for byte. */
    CHECK_OK(sack_tcp_get_peer_certificate(s, 0, NULL, 0, &len));
    CHECK_EQ(len, want->der_len);
    unsigned char *der = malloc(len);
    CHECK(der != NULL);
    size_t got = 0;
    CHECK_RESULT(sack_tcp_get_peer_certificate(s, 0, der, len - 1, &got), SACK_TCP_ERR_INVALID_ARGUMENT);
    CHECK_EQ(got, 0); /* untouched on failure */
    CHECK_OK(sack_tcp_get_peer_certificate(s, 0, der, len, &got));
    CHECK_EQ(got, want->der_len);
    CHECK(memcmp(der, want->der, got) == 0);
    free(der);
    CHECK_RESULT(sack_tcp_get_peer_certificate(s, info->peer_certificate_count, NULL, 0, &got),
                 SACK_TCP_ERR_INVALID_ARGUMENT);
}

static sack_tcp_options new_options(void) {
    sack_tcp_options o;
    CHECK_OK(sack_tcp_options_init(&o));
    return o;
}

static sack_tcp *open_client_to(recorder *r, uint16_t port, sack_tcp_options *o) {
    recorder_options(r, o);
    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%u", (unsigned)port);
    o->to_address = target;
    sack_tcp *c = NULL;
    CHECK_OK(sack_tcp_open(o, &c));
    return c;
}

static sack_tcp_tls_info get_info(sack_tcp *s) {
    sack_tcp_tls_info info;
    memset(&info, 0xAB, sizeof info);
    CHECK_OK(sack_tcp_get_tls_info(s, &info, sizeof info));
    CHECK_EQ(info.struct_size, sizeof info);
    return info;
}

/* Item 4: our client and our server agree on X25519MLKEM768; item 2: each
 * sees the other as openssl describes it. */
TEST(tlsx_pq_group_and_peer_certificate) {
    tls_files f = tls_files_load();
    openssl_cert want = openssl_describe("localhost.pem");
    sack_tcp_options so = new_options();
    so.cert = f.cert;
    so.key = f.key;
    server srv;
    server_start(&srv, "127.0.0.1", &so);

    sack_tcp_options o = new_options();
    o.ssl = true;
    o.ca = f.ca;
    o.host = "localhost";
    recorder cli;
    recorder_init(&cli);
    sack_tcp *c = open_client_to(&cli, srv.port, &o);
    WAIT_UNTIL(cli.readies == 1 && srv.n_conns == 1 && srv.conns[0].readies == 1);

    sack_tcp_tls_info ci = get_info(c), si = get_info(srv.conns[0].sock);
    const sack_tcp_tls_info *both[2] = {&ci, &si};
    for (int i = 0; i < 2; i++) {
        CHECK_STR(both[i]->protocol_name, "TLSv1.3");
        CHECK_EQ(both[i]->protocol_version, 0x0304);
        CHECK_STR(both[i]->key_exchange_group_name, "X25519MLKEM768");
        CHECK_EQ(both[i]->key_exchange_group, 0x11EC);
        CHECK(!both[i]->resumed);
        CHECK(strncmp(both[i]->cipher_suite_name, "TLS_", 4) == 0);
    }
    CHECK_STR(ci.cipher_suite_name, si.cipher_suite_name);
    CHECK_EQ(ci.cipher_suite, si.cipher_suite);
    CHECK_STR(si.server_name, "localhost");
    CHECK_STR(ci.server_name, "");

    const char *sans[3] = {"DNS:localhost", "IP:127.0.0.1", "IP:::1"};
    check_peer_is(c, &ci, &want, sans, 3);

    /* The server asked for no client certificate. */
    CHECK_EQ(si.peer_certificate_count, 0);
    CHECK_EQ(si.peer_san_count, 0);
    size_t len = 0;
    char buf[64];
    CHECK_RESULT(sack_tcp_get_peer_subject(srv.conns[0].sock, buf, sizeof buf, &len),
                 SACK_TCP_ERR_NOT_APPLICABLE);
    CHECK_RESULT(sack_tcp_get_peer_certificate(srv.conns[0].sock, 0, NULL, 0, &len),
                 SACK_TCP_ERR_INVALID_ARGUMENT);

    CHECK_OK(sack_tcp_close(c));
    WAIT_UNTIL(cli.closes == 1 && srv.conns[0].closes == 1);
    CHECK_EQ(cli.errors, 0);
    /* Closed: the documented code, nothing written. */
    sack_tcp_tls_info after;
    after.struct_size = 7;
    CHECK_RESULT(sack_tcp_get_tls_info(c, &after, sizeof after), SACK_TCP_ERR_CLOSED);
    CHECK_EQ(after.struct_size, 7);
    sack_tcp_free(c);
    recorder_destroy(&cli);
    server_stop(&srv);
    server_destroy(&srv);
    free(want.der);
    tls_files_free(&f);
}

/* Item 2 against openssl s_client (OpenSSL 3.0, without ML-KEM): the
 * server's view of a client with a certificate, and the same version, suite
 * and group s_client reports; X25519 is the fallback (item 4). */
TEST(tlsx_server_view_matches_s_client) {
    tls_files f = tls_files_load();
    openssl_cert want = openssl_describe("client.pem");
    sack_tcp_options so = new_options();
    so.cert = f.cert;
    so.key = f.key;
    so.ca = f.ca;
    so.client_auth = SACK_TCP_CLIENT_AUTH_REQUIRE;
    server srv;
    server_start(&srv, "127.0.0.1", &so);
    srv.echo = true;

    char capath[512], ccert[512], ckey[512], connect[64];
    cert_path(capath, sizeof capath, "ca.pem");
    cert_path(ccert, sizeof ccert, "client.pem");
    cert_path(ckey, sizeof ckey, "client.key");
    snprintf(connect, sizeof connect, "127.0.0.1:%u", (unsigned)srv.port);
    char *argv[] = {"openssl", "s_client", "-connect", connect, "-CAfile", capath, "-servername", "localhost",
                    "-cert", ccert, "-key", ckey, "-brief", NULL};
    child s;
    child_spawn(&s, argv);
    child_write(&s, "ping\n");
    child_expect(&s, "ping\n", WAIT_MS);
    WAIT_UNTIL(srv.n_conns == 1 && srv.conns[0].readies == 1);
    char version[64], suite[128], temp_key[128];
    line_after(s.out, "Protocol version: ", version, sizeof version);
    line_after(s.out, "Ciphersuite: ", suite, sizeof suite);
    line_after(s.out, "Server Temp Key: ", temp_key, sizeof temp_key);

    sack_tcp *conn = srv.conns[0].sock;
    sack_tcp_tls_info si = get_info(conn);
    CHECK_STR(si.protocol_name, version);
    CHECK_STR(si.cipher_suite_name, suite);
    /* "X25519, 253 bits" */
    CHECK(strncmp(temp_key, "X25519,", 7) == 0);
    CHECK_STR(si.key_exchange_group_name, "X25519");
    CHECK_EQ(si.key_exchange_group, 0x001D);
    CHECK_STR(si.server_name, "localhost");
    CHECK(!si.resumed);
    const char *sans[1] = {"DNS:client.example.com"};
    check_peer_is(conn, &si, &want, sans, 1);

    CHECK_OK(sack_tcp_close(conn));
    child_wait_exit(&s, WAIT_MS);
    WAIT_UNTIL(srv.conns[0].closes == 1);
    child_finish(&s);
    server_stop(&srv);
    server_destroy(&srv);
    free(want.der);
    tls_files_free(&f);
}

/* Item 4's interop: our client (ML-KEM first) with openssl s_server 3.0,
 * which lacks it, settles on X25519 without failing; what s_server prints
 * of the connection agrees with what our client reports. */
TEST(tlsx_client_view_matches_s_server) {
    child s;
    uint16_t port = child_start_s_server(&s);

    char *ca = read_cert("ca.pem");
    openssl_cert want = openssl_describe("localhost.pem");
    sack_tcp_options o = new_options();
    o.ssl = true;
    o.ca = ca;
    o.host = "localhost";
    recorder cli;
    recorder_init(&cli);
    sack_tcp *c = open_client_to(&cli, (uint16_t)port, &o);
    CHECK_OK(sack_tcp_send(c, "hello\n", 6));
    WAIT_UNTIL(cli.readies == 1 || cli.closes == 1);
    if (cli.readies != 1) FAIL("handshake with s_server failed: log %s; s_server printed:\n%s", cli.log, s.out);
    child_expect(&s, "hello\n", WAIT_MS);
    char groups[256], suite[128];
    line_after(s.out, "CIPHER is ", suite, sizeof suite);
    line_after(s.out, "Supported groups: ", groups, sizeof groups);
    /* Our client offered, in order, a group OpenSSL 3.0 does not know (it
     * prints <NULL>: X25519MLKEM768), then X25519 and the NIST curves. */
    CHECK_STR(groups, "<NULL>:x25519:secp256r1:secp384r1");

    sack_tcp_tls_info ci = get_info(c);
    CHECK_STR(ci.protocol_name, "TLSv1.3");
    CHECK_STR(ci.cipher_suite_name, suite);
    CHECK_STR(ci.key_exchange_group_name, "X25519");
    const char *sans[3] = {"DNS:localhost", "IP:127.0.0.1", "IP:::1"};
    check_peer_is(c, &ci, &want, sans, 3);

    CHECK_OK(sack_tcp_close(c));
    child_finish(&s);
    WAIT_UNTIL(cli.closes == 1);
    sack_tcp_free(c);
    recorder_destroy(&cli);
    free(want.der);
    free(ca);
}

/* Every documented error of the inspection calls. */
TEST(tlsx_info_errors) {
    sack_tcp_tls_info info;
    size_t len = 0;
    char buf[64];
    CHECK_RESULT(sack_tcp_get_tls_info(NULL, &info, sizeof info), SACK_TCP_ERR_NULL_POINTER);
    CHECK_RESULT(sack_tcp_get_peer_certificate(NULL, 0, NULL, 0, &len), SACK_TCP_ERR_NULL_POINTER);
    CHECK_RESULT(sack_tcp_get_peer_subject(NULL, buf, sizeof buf, &len), SACK_TCP_ERR_NULL_POINTER);
    CHECK_RESULT(sack_tcp_get_peer_san(NULL, 0, buf, sizeof buf, &len), SACK_TCP_ERR_NULL_POINTER);

    /* A plain connection and the listener. */
    server plain;
    server_start(&plain, "127.0.0.1", NULL);
    recorder cli;
    recorder_init(&cli);
    sack_tcp *c = client_open(&cli, "127.0.0.1", plain.port, NULL);
    WAIT_UNTIL(cli.readies == 1);
    CHECK_RESULT(sack_tcp_get_tls_info(c, &info, sizeof info), SACK_TCP_ERR_NOT_APPLICABLE);
    CHECK_RESULT(sack_tcp_get_tls_info(plain.listener, &info, sizeof info), SACK_TCP_ERR_NOT_APPLICABLE);
    CHECK_RESULT(sack_tcp_get_peer_certificate(plain.listener, 0, NULL, 0, &len), SACK_TCP_ERR_NOT_APPLICABLE);
    CHECK_RESULT(sack_tcp_get_peer_subject(c, buf, sizeof buf, &len), SACK_TCP_ERR_NOT_APPLICABLE);
    CHECK_RESULT(sack_tcp_get_peer_san(c, 0, buf, sizeof buf, &len), SACK_TCP_ERR_NOT_APPLICABLE);
    CHECK_OK(sack_tcp_close(c));
    WAIT_UNTIL(cli.closes == 1);
    sack_tcp_free(c);
    recorder_destroy(&cli);
    server_stop(&plain);
    server_destroy(&plain);

    /* A TLS connection: argument checks. */
    tls_files f = tls_files_load();
    sack_tcp_options so = new_options();
    so.cert = f.cert;
    so.key = f.key;
    server srv;
    server_start(&srv, "127.0.0.1", &so);
    sack_tcp_options o = new_options();
    o.ssl = true;
    o.ca = f.ca;
    o.host = "localhost";
    recorder_init(&cli);
    c = open_client_to(&cli, srv.port, &o);
    WAIT_UNTIL(cli.readies == 1);
    CHECK_RESULT(sack_tcp_get_tls_info(c, NULL, sizeof info), SACK_TCP_ERR_NULL_POINTER);
    CHECK_RESULT(sack_tcp_get_tls_info(c, &info, 8), SACK_TCP_ERR_INVALID_ARGUMENT);
    /* A caller built against a newer header: our fields, zeros after. */
    unsigned char bigger[sizeof info + 16];
    memset(bigger, 0xAB, sizeof bigger);
    CHECK_OK(sack_tcp_get_tls_info(c, (sack_tcp_tls_info *)(void *)bigger, sizeof bigger));
    for (size_t i = sizeof info; i < sizeof bigger; i++) CHECK_EQ(bigger[i], 0);
    CHECK_RESULT(sack_tcp_get_peer_certificate(c, 0, NULL, 0, NULL), SACK_TCP_ERR_NULL_POINTER);
    CHECK_RESULT(sack_tcp_get_peer_certificate(c, 0, NULL, 10, &len), SACK_TCP_ERR_NULL_POINTER);
    CHECK_RESULT(sack_tcp_get_peer_subject(c, buf, sizeof buf, NULL), SACK_TCP_ERR_NULL_POINTER);
    /* "CN=localhost" needs 13 bytes with its NUL. */
    len = 99;
    CHECK_RESULT(sack_tcp_get_peer_subject(c, buf, 12, &len), SACK_TCP_ERR_INVALID_ARGUMENT);
    CHECK_EQ(len, 99);
    CHECK_OK(sack_tcp_get_peer_subject(c, buf, 13, &len));
    CHECK_STR(buf, "CN=localhost");
    CHECK_EQ(len, 12);
    CHECK_OK(sack_tcp_close(c));
    WAIT_UNTIL(cli.closes == 1);
    CHECK_RESULT(sack_tcp_get_peer_subject(c, buf, sizeof buf, &len), SACK_TCP_ERR_CLOSED);
    sack_tcp_free(c);
    recorder_destroy(&cli);
    server_stop(&srv);
    server_destroy(&srv);
    tls_files_free(&f);
}

/* ---- item 3: client session resumption ---- */

/* A client to 127.0.0.1:port verifying "localhost" with `ca`: waits for
 * ready, sends `hello` and waits for `expect_back` bytes (so the session
 * tickets the server sent after its handshake have been read), then
 * returns whether it resumed, and closes. `server_conn`, if not NULL, is
 * asked too (it must be ready by then) and must agree. */
static bool connect_and_check_resumed(uint16_t port, const char *ca, size_t expect_back,
                                      server *srv, int conn_index, child *peer) {
    sack_tcp_options o = new_options();
    o.ssl = true;
    o.ca = ca;
    o.host = "localhost";
    recorder cli;
    recorder_init(&cli);
    sack_tcp *c = open_client_to(&cli, port, &o);
    CHECK_OK(sack_tcp_send(c, "hello\n", 6));
    WAIT_UNTIL(cli.readies == 1 || cli.closes == 1);
    if (cli.readies != 1) FAIL("handshake failed: log %s", cli.log);
    if (peer) {
        child_expect(peer, "hello\n", WAIT_MS);
        child_write(peer, "back\n");
    }
    WAIT_UNTIL(cli.data_len >= expect_back || cli.closes == 1);
    CHECK_EQ(cli.data_len, expect_back);
    sack_tcp_tls_info ci = get_info(c);
    CHECK_STR(ci.protocol_name, "TLSv1.3");
    if (srv) {
        WAIT_UNTIL(srv->n_conns > conn_index && srv->conns[conn_index].readies == 1);
        sack_tcp_tls_info si = get_info(srv->conns[conn_index].sock);
        CHECK_EQ(si.resumed, ci.resumed);
    }
    CHECK_OK(sack_tcp_close(c));
    WAIT_UNTIL(cli.closes == 1);
    CHECK_EQ(cli.errors, 0);
    sack_tcp_free(c);
    recorder_destroy(&cli);
    return ci.resumed;
}

/* Two `ca` strings that trust the same server but differ: separate trust
 * configurations. */
static char *ca_plus_other(const char *ca) {
    char *other = read_cert("other_ca.pem");
    size_t n = strlen(ca) + strlen(other) + 1;
    char *both = malloc(n);
    CHECK(both != NULL);
    snprintf(both, n, "%s%s", ca, other);
    free(other);
    return both;
}

/* A second client with the same settings resumes (both sides say so); one
 * with a different `ca` does a full handshake; the first settings still
 * resume afterwards. */
TEST(tlsx_client_resumes_with_the_same_settings) {
    tls_files f = tls_files_load();
    char *ca2 = ca_plus_other(f.ca);
    sack_tcp_options so = new_options();
    so.cert = f.cert;
    so.key = f.key;
    server srv;
    server_start(&srv, "127.0.0.1", &so);
    srv.echo = true;

    CHECK(!connect_and_check_resumed(srv.port, f.ca, 6, &srv, 0, NULL));
    CHECK(connect_and_check_resumed(srv.port, f.ca, 6, &srv, 1, NULL));
    CHECK(!connect_and_check_resumed(srv.port, ca2, 6, &srv, 2, NULL));
    CHECK(connect_and_check_resumed(srv.port, ca2, 6, &srv, 3, NULL));
    CHECK(connect_and_check_resumed(srv.port, f.ca, 6, &srv, 4, NULL));

    server_stop(&srv);
    server_destroy(&srv);
    free(ca2);
    tls_files_free(&f);
}

static int count_of(const child *c, const char *needle) {
    int n = 0;
    const char *p = c->out;
    while ((p = strstr(p, needle)) != NULL) {
        n++;
        p += strlen(needle);
    }
    return n;
}

/* The same against openssl s_server, which reports "Reused session-id"
 * for each connection that resumed. */
TEST(tlsx_client_resumption_reported_by_s_server) {
    child s;
    uint16_t port = child_start_s_server(&s);
    char *ca = read_cert("ca.pem");
    char *ca2 = ca_plus_other(ca);

    /* s_server serves one connection at a time and prints its details when
     * the handshake is done; "hello" is printed after them. */
    CHECK(!connect_and_check_resumed(port, ca, 5, NULL, 0, &s));
    CHECK_EQ(count_of(&s, "Reused session-id"), 0);
    CHECK(connect_and_check_resumed(port, ca, 5, NULL, 0, &s));
    child_expect(&s, "Reused session-id", WAIT_MS);
    CHECK(!connect_and_check_resumed(port, ca2, 5, NULL, 0, &s));
    CHECK_EQ(count_of(&s, "Reused session-id"), 1);

    child_finish(&s);
    free(ca2);
    free(ca);
}

/* ---- item 1: demotion after error 6 ---- */

static struct {
    bool demote;                 /* call sack_tcp_set_ssl(s, false) from the error callback */
    int errors;
    sack_tcp_result code;        /* of the last error */
    sack_tcp_result set_ssl_rc;  /* what that call returned */
    unsigned char data[4096];    /* the error's data */
    size_t len;
} demo;

static void demote_on_error(void *ud, sack_tcp *s, sack_tcp_result code, const char *msg, const uint8_t *data,
                            size_t len) {
    sack_tcp_result rc = 1;
    if (demo.demote) rc = sack_tcp_set_ssl(s, false);
    harness_lock();
    demo.errors++;
    demo.code = code;
    demo.set_ssl_rc = rc;
    demo.len = len < sizeof demo.data ? len : sizeof demo.data;
    if (demo.len) memcpy(demo.data, data, demo.len);
    harness_unlock();
    rec_on_error(ud, s, code, msg, data, len);
}

static struct {
    int errors;
    sack_tcp_result code, set_ssl_rc;
} client_demo;

/* A client's error callback that tries to demote. */
static void client_demote_on_error(void *ud, sack_tcp *s, sack_tcp_result code, const char *msg,
                                   const uint8_t *data, size_t len) {
    sack_tcp_result rc = sack_tcp_set_ssl(s, false);
    harness_lock();
    client_demo.errors++;
    client_demo.code = code;
    client_demo.set_ssl_rc = rc;
    harness_unlock();
    rec_on_error(ud, s, code, msg, data, len);
}

static const char http_request[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
static const char http_reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";

/* Answers a whole HTTP request, then closes. */
static void http_on_message(void *ud, sack_tcp *s, const uint8_t *data, size_t len) {
    recorder *r = ud;
    rec_on_message(ud, s, data, len);
    harness_lock();
    bool whole = r->data_len >= 4 && memcmp(r->data + r->data_len - 4, "\r\n\r\n", 4) == 0;
    harness_unlock();
    if (whole) {
        CHECK_OK(sack_tcp_send(s, http_reply, strlen(http_reply)));
        CHECK_OK(sack_tcp_close(s));
    }
}

static void demote_server_start(server *srv, char **cert, char **key) {
    *cert = read_cert("localhost.pem");
    *key = read_cert("localhost.key");
    sack_tcp_options so = new_options();
    so.cert = *cert;
    so.key = *key;
    server_start(srv, "127.0.0.1", &so);
    /* Accepted connections copy these. */
    CHECK_OK(sack_tcp_on_error(srv->listener, demote_on_error));
    CHECK_OK(sack_tcp_on_message(srv->listener, http_on_message));
}

/* An HTTP request to a TLS-only port: error 6 with the request as its data;
 * the host demotes from the callback; the request arrives as the first
 * message after ready, the plain answer reaches the client, with no TLS
 * alert in front of it. */
TEST(tlsx_demote_http_request_after_error_6) {
    memset(&demo, 0, sizeof demo);
    demo.demote = true;
    server srv;
    char *cert, *key;
    demote_server_start(&srv, &cert, &key);

    int fd = raw_connect("127.0.0.1", srv.port);
    raw_write_all(fd, http_request, strlen(http_request));
    char reply[256];
    size_t n = raw_read_to_eof(fd, reply, sizeof reply - 1, NULL, WAIT_MS);
    reply[n < sizeof reply ? n : sizeof reply - 1] = 0;
    close(fd);
    CHECK_EQ(n, strlen(http_reply));
    CHECK_STR(reply, http_reply);

    WAIT_UNTIL(srv.n_conns == 1 && srv.conns[0].closes == 1);
    CHECK_EQ(demo.errors, 1);
    CHECK_EQ(demo.code, SACK_TCP_TLS_HANDSHAKE_FAILED);
    CHECK_EQ(demo.set_ssl_rc, SACK_TCP_OK);
    CHECK_EQ(demo.len, strlen(http_request));
    CHECK(memcmp(demo.data, http_request, demo.len) == 0);
    recorder conn = srv.conns[0];
    /* connect, error 6, then ready and the request as a plain message. */
    if (strncmp(conn.log, "CERM", 4) != 0) FAIL("connection log %s", conn.log);
    CHECK_EQ(conn.data_len, strlen(http_request));
    CHECK(memcmp(conn.data, http_request, conn.data_len) == 0);

    server_stop(&srv);
    server_destroy(&srv);
    free(cert);
    free(key);
}

/* Demotion is refused outside the error callback, on a connection that
 * never failed, and for other errors; a failed connection not demoted
 * closes as before, its alert first. */
TEST(tlsx_demote_refused_elsewhere) {
    char *ca = read_cert("ca.pem");
    server srv;
    char *cert, *key;
    memset(&demo, 0, sizeof demo);
    demote_server_start(&srv, &cert, &key);

    /* A TLS connection that never failed: NOT_APPLICABLE, before and after
     * ready, from outside any callback. */
    sack_tcp_options o = new_options();
    o.ssl = true;
    o.ca = ca;
    o.host = "localhost";
    recorder cli;
    recorder_init(&cli);
    sack_tcp *c = open_client_to(&cli, srv.port, &o);
    CHECK_RESULT(sack_tcp_set_ssl(c, false), SACK_TCP_ERR_NOT_APPLICABLE);
    WAIT_UNTIL(cli.readies == 1 && srv.n_conns == 1 && srv.conns[0].readies == 1);
    CHECK_RESULT(sack_tcp_set_ssl(c, false), SACK_TCP_ERR_NOT_APPLICABLE);
    CHECK_RESULT(sack_tcp_set_ssl(srv.conns[0].sock, false), SACK_TCP_ERR_NOT_APPLICABLE);
    CHECK_OK(sack_tcp_close(c));
    WAIT_UNTIL(cli.closes == 1 && srv.conns[0].closes == 1);
    sack_tcp_free(c);
    recorder_destroy(&cli);

    /* Error 1 (unknown issuer) on a client: its error callback may not
     * demote. */
    char *other = read_cert("other_ca.pem");
    o.ca = other;
    recorder_init(&cli);
    recorder_options(&cli, &o);
    o.on_error = client_demote_on_error;
    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%u", (unsigned)srv.port);
    o.to_address = target;
    c = NULL;
    CHECK_OK(sack_tcp_open(&o, &c));
    WAIT_UNTIL(cli.closes == 1 && srv.n_conns == 2 && srv.conns[1].closes == 1);
    CHECK_EQ(client_demo.errors, 1);
    CHECK_EQ(client_demo.code, SACK_TCP_TLS_UNKNOWN_ISSUER);
    CHECK_EQ(client_demo.set_ssl_rc, SACK_TCP_ERR_NOT_APPLICABLE);
    CHECK_EQ(cli.readies, 0);
    sack_tcp_free(c);
    recorder_destroy(&cli);
    free(other);

    /* A plain client whose error 6 is not demoted: alert, then FIN. */
    memset(&demo, 0, sizeof demo);
    int fd = raw_connect("127.0.0.1", srv.port);
    raw_write_all(fd, http_request, strlen(http_request));
    unsigned char reply[256];
    size_t n = raw_read_to_eof(fd, reply, sizeof reply, NULL, WAIT_MS);
    close(fd);
    CHECK(n >= 7);
    CHECK_EQ(reply[0], 0x15); /* a TLS alert record */
    WAIT_UNTIL(srv.n_conns == 3 && srv.conns[2].closes == 1);
    CHECK_EQ(demo.errors, 1);
    CHECK_EQ(demo.code, SACK_TCP_TLS_HANDSHAKE_FAILED);
    if (strcmp(srv.conns[2].log, "CEX") != 0) FAIL("connection log %s", srv.conns[2].log);

    server_stop(&srv);
    server_destroy(&srv);
    free(cert);
    free(key);
    free(ca);
}

/* ---- item 8: the key log ---- */

#define KEYLOG_MAX 64
static struct {
    char lines[KEYLOG_MAX][256];
    int n;
    sack_tcp_result nested_rc; /* set_key_log_callback from inside the callback */
} keylog;

static void key_log_cb(void *ud, const char *line) {
    CHECK(ud == &keylog);
    sack_tcp_result rc = sack_tcp_set_key_log_callback(NULL, NULL);
    harness_lock();
    keylog.nested_rc = rc;
    if (keylog.n < KEYLOG_MAX) snprintf(keylog.lines[keylog.n++], sizeof keylog.lines[0], "%s", line);
    harness_unlock();
}

static bool keylog_has(const char *line) {
    bool found = false;
    harness_lock();
    for (int i = 0; i < keylog.n && !found; i++) found = strcmp(keylog.lines[i], line) == 0;
    harness_unlock();
    return found;
}

/* Off by default; once set, the server's lines are exactly the secrets
 * openssl s_client derived for the same connection and wrote with
 * -keylogfile (so they decrypt it: they are the connection's secrets). */
TEST(tlsx_key_log_matches_s_client) {
    memset(&keylog, 0, sizeof keylog);
    tls_files tls = tls_files_load();
    sack_tcp_options so = new_options();
    so.cert = tls.cert;
    so.key = tls.key;
    server srv;
    server_start(&srv, "127.0.0.1", &so);
    srv.echo = true;

    /* Off by default: a whole handshake logs nothing. */
    sack_tcp_options o = new_options();
    o.ssl = true;
    o.ca = tls.ca;
    o.host = "localhost";
    recorder cli;
    recorder_init(&cli);
    sack_tcp *c = open_client_to(&cli, srv.port, &o);
    WAIT_UNTIL(cli.readies == 1 && srv.n_conns == 1 && srv.conns[0].readies == 1);
    CHECK_OK(sack_tcp_close(c));
    WAIT_UNTIL(cli.closes == 1 && srv.conns[0].closes == 1);
    sack_tcp_free(c);
    recorder_destroy(&cli);
    CHECK_EQ(keylog.n, 0);

    CHECK_OK(sack_tcp_set_key_log_callback(key_log_cb, &keylog));
    char path[] = "/tmp/sack_tcp_keylog_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    char capath[512], connect[64];
    cert_path(capath, sizeof capath, "ca.pem");
    snprintf(connect, sizeof connect, "127.0.0.1:%u", (unsigned)srv.port);
    char *argv[] = {"openssl", "s_client", "-connect", connect, "-CAfile", capath, "-servername", "localhost",
                    "-keylogfile", path, "-quiet", NULL};
    child s;
    child_spawn(&s, argv);
    child_write(&s, "ping\n");
    child_expect(&s, "ping\n", WAIT_MS);
    WAIT_UNTIL(srv.n_conns == 2 && srv.conns[1].readies == 1);
    CHECK_OK(sack_tcp_close(srv.conns[1].sock));
    child_wait_exit(&s, WAIT_MS);
    child_finish(&s);
    WAIT_UNTIL(srv.conns[1].closes == 1);

    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    char line[512];
    int theirs = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (line[0] == '#' || line[0] == 0) continue;
        theirs++;
        if (!keylog_has(line)) FAIL("s_client logged a secret the server did not: %s", line);
    }
    fclose(f);
    unlink(path);
    /* TLS 1.3: two handshake and two traffic secrets, and the exporter's. */
    CHECK_EQ(theirs, 5);
    CHECK_EQ(keylog.n, 5);
    CHECK(strncmp(keylog.lines[0], "CLIENT_HANDSHAKE_TRAFFIC_SECRET ", 32) == 0 ||
          strncmp(keylog.lines[0], "SERVER_HANDSHAKE_TRAFFIC_SECRET ", 32) == 0);
    CHECK_EQ(keylog.nested_rc, SACK_TCP_ERR_WOULD_DEADLOCK);

    CHECK_OK(sack_tcp_set_key_log_callback(NULL, NULL));
    server_stop(&srv);
    server_destroy(&srv);
    tls_files_free(&tls);
}

/* ---- item 5 (part): version, group and suite policy; resumption off ---- */

/* One client with `o` (plus ca and host) to `srv`: whether it got ready,
 * and both sides' info if so. */
static bool policy_try(server *srv, sack_tcp_options o, const char *ca, sack_tcp_tls_info *ci,
                       sack_tcp_tls_info *si) {
    o.ssl = true;
    o.ca = ca;
    o.host = "localhost";
    int index = srv->n_conns;
    recorder cli;
    recorder_init(&cli);
    sack_tcp *c = open_client_to(&cli, srv->port, &o);
    WAIT_UNTIL(cli.readies == 1 || cli.closes == 1);
    bool ready = cli.readies == 1;
    if (ready) {
        WAIT_UNTIL(srv->n_conns > index && srv->conns[index].readies == 1);
        *ci = get_info(c);
        *si = get_info(srv->conns[index].sock);
        CHECK_OK(sack_tcp_close(c));
    }
    WAIT_UNTIL(cli.closes == 1);
    WAIT_UNTIL(srv->n_conns > index && srv->conns[index].closes == 1);
    sack_tcp_free(c);
    recorder_destroy(&cli);
    return ready;
}

TEST(tlsx_policy_versions_groups_suites) {
    tls_files f = tls_files_load();
    sack_tcp_options so = new_options();
    so.cert = f.cert;
    so.key = f.key;
    so.tls_max_version = SACK_TCP_PROTOCOL_TLS_1_2;
    server tls12;
    server_start(&tls12, "127.0.0.1", &so);
    sack_tcp_tls_info ci, si;

    /* A TLS 1.2-only server: X25519MLKEM768 is TLS 1.3's, X25519 next. */
    CHECK(policy_try(&tls12, new_options(), f.ca, &ci, &si));
    CHECK_STR(ci.protocol_name, "TLSv1.2");
    CHECK_EQ(si.protocol_version, SACK_TCP_PROTOCOL_TLS_1_2);
    CHECK_STR(ci.key_exchange_group_name, "X25519");
    CHECK(strncmp(ci.cipher_suite_name, "TLS_ECDHE_RSA_WITH_", 19) == 0);

    /* A client that insists on TLS 1.3 fails against it. */
    sack_tcp_options o = new_options();
    o.tls_min_version = SACK_TCP_PROTOCOL_TLS_1_3;
    CHECK(!policy_try(&tls12, o, f.ca, &ci, &si));
    server_stop(&tls12);
    server_destroy(&tls12);

    /* Groups and suites by name, on the client; the server follows. */
    so.tls_max_version = 0;
    server srv;
    server_start(&srv, "127.0.0.1", &so);
    o = new_options();
    o.tls_groups = "secp384r1, X25519";
    o.tls_cipher_suites = "TLS_CHACHA20_POLY1305_SHA256";
    CHECK(policy_try(&srv, o, f.ca, &ci, &si));
    CHECK_STR(ci.key_exchange_group_name, "secp384r1");
    CHECK_EQ(si.key_exchange_group, 0x0018);
    CHECK_STR(si.cipher_suite_name, "TLS_CHACHA20_POLY1305_SHA256");
    CHECK_EQ(ci.cipher_suite, 0x1303);
    server_stop(&srv);
    server_destroy(&srv);

    /* Bad values are refused at open. */
    sack_tcp *h = NULL;
    o = new_options();
    o.to_address = "127.0.0.1:1";
    o.ssl = true;
    o.tls_min_version = 0x0301;
    CHECK_RESULT(sack_tcp_open(&o, &h), SACK_TCP_ERR_INVALID_ARGUMENT);
    o.tls_min_version = SACK_TCP_PROTOCOL_TLS_1_3;
    o.tls_max_version = SACK_TCP_PROTOCOL_TLS_1_2;
    CHECK_RESULT(sack_tcp_open(&o, &h), SACK_TCP_ERR_INVALID_ARGUMENT);
    o.tls_min_version = o.tls_max_version = 0;
    o.tls_groups = "X448";
    CHECK_RESULT(sack_tcp_open(&o, &h), SACK_TCP_ERR_INVALID_ARGUMENT);
    o.tls_groups = NULL;
    o.tls_cipher_suites = "TLS_NULL_WITH_NULL_NULL";
    CHECK_RESULT(sack_tcp_open(&o, &h), SACK_TCP_ERR_INVALID_ARGUMENT);
    /* A plain server has no TLS to set. */
    sack_tcp_options plain = new_options();
    plain.address = "127.0.0.1";
    plain.tls_groups = "X25519";
    CHECK_RESULT(sack_tcp_open(&plain, &h), SACK_TCP_ERR_NOT_APPLICABLE);
    CHECK(h == NULL);

    tls_files_free(&f);
}

/* tls_no_resumption on a server: a client with the same settings twice
 * does not resume (it does against a default server, see
 * tlsx_client_resumes_with_the_same_settings). */
TEST(tlsx_policy_server_without_resumption) {
    tls_files f = tls_files_load();
    sack_tcp_options so = new_options();
    so.cert = f.cert;
    so.key = f.key;
    so.tls_no_resumption = true;
    server srv;
    server_start(&srv, "127.0.0.1", &so);
    srv.echo = true;
    CHECK(!connect_and_check_resumed(srv.port, f.ca, 6, &srv, 0, NULL));
    CHECK(!connect_and_check_resumed(srv.port, f.ca, 6, &srv, 1, NULL));
    server_stop(&srv);
    server_destroy(&srv);
    tls_files_free(&f);
}

/* ---- item 6: atomic rotation of a listener's TLS configuration ---- */

#include <pthread.h>

#define ROT_THREADS 4
#define ROT_PER_THREAD 12

static struct {
    uint16_t port;
    const char *ca; /* trusts both the old and the new certificate */
    unsigned char old_sha[32], new_sha[32];
    bool reloaded;  /* set once sack_tcp_reload_tls returned */
    int done, failed, olds, news, mixed, stale_after_reload;
    char why[600];
} rot;

static void *rot_thread(void *arg) {
    (void)arg;
    for (int i = 0; i < ROT_PER_THREAD; i++) {
        harness_lock();
        bool after_reload = rot.reloaded;
        harness_unlock();
        sack_tcp_options o = new_options();
        o.ssl = true;
        o.ca = rot.ca;
        o.host = "localhost";
        o.alpn = "old,new";
        o.tls_no_resumption = true; /* every handshake a full one */
        recorder cli;
        recorder_init(&cli);
        sack_tcp *c = open_client_to(&cli, rot.port, &o);
        WAIT_UNTIL(cli.readies == 1 || cli.closes == 1);
        bool ok = cli.readies == 1;
        char alpn[16] = "";
        sack_tcp_tls_info info;
        memset(&info, 0, sizeof info);
        if (ok) {
            CHECK_OK(sack_tcp_get_alpn(c, alpn, sizeof alpn));
            info = get_info(c);
            CHECK_OK(sack_tcp_close(c));
        }
        WAIT_UNTIL(cli.closes == 1);
        harness_lock();
        if (!ok) {
            rot.failed++;
            snprintf(rot.why, sizeof rot.why, "log %s error %d", cli.log, (int)cli.error_code);
        } else {
            bool old_cert = memcmp(info.peer_sha256, rot.old_sha, 32) == 0;
            bool new_cert = memcmp(info.peer_sha256, rot.new_sha, 32) == 0;
            if (old_cert && strcmp(alpn, "old") == 0) {
                rot.olds++;
                if (after_reload) rot.stale_after_reload++;
            } else if (new_cert && strcmp(alpn, "new") == 0) {
                rot.news++;
            } else {
                rot.mixed++;
            }
        }
        rot.done++;
        harness_unlock();
        sack_tcp_free(c);
        recorder_destroy(&cli);
    }
    return NULL;
}

/* Handshakes from several threads while the listener's configuration (its
 * certificate and its ALPN) is replaced: none fails, each gets the old
 * certificate with the old ALPN or the new with the new, never a mix, and
 * none that starts after the reload returned gets the old. Then an SNI name
 * is removed. */
TEST(tlsx_reload_during_handshakes) {
    memset(&rot, 0, sizeof rot);
    tls_files f = tls_files_load();
    char *ucert = read_cert("untrusted.pem"), *ukey = read_cert("untrusted.key");
    char *both = ca_plus_other(f.ca);
    openssl_cert old_c = openssl_describe("localhost.pem"), new_c = openssl_describe("untrusted.pem");
    memcpy(rot.old_sha, old_c.sha256, 32);
    memcpy(rot.new_sha, new_c.sha256, 32);
    rot.ca = both;

    sack_tcp_options so = new_options();
    so.cert = f.cert;
    so.key = f.key;
    so.alpn = "old";
    server srv;
    server_start(&srv, "127.0.0.1", &so);
    rot.port = srv.port;

    pthread_t threads[ROT_THREADS];
    for (int i = 0; i < ROT_THREADS; i++) CHECK(pthread_create(&threads[i], NULL, rot_thread, NULL) == 0);
    WAIT_UNTIL(rot.done >= ROT_THREADS * ROT_PER_THREAD / 3);
    sack_tcp_options next = new_options();
    next.cert = ucert;
    next.key = ukey;
    next.alpn = "new";
    CHECK_OK(sack_tcp_reload_tls(srv.listener, &next));
    harness_lock();
    rot.reloaded = true;
    harness_unlock();
    for (int i = 0; i < ROT_THREADS; i++) CHECK(pthread_join(threads[i], NULL) == 0);

    if (rot.failed) FAIL("%d handshakes failed, last: %s", rot.failed, rot.why);
    CHECK_EQ(rot.mixed, 0);
    CHECK_EQ(rot.stale_after_reload, 0);
    CHECK_EQ(rot.olds + rot.news, ROT_THREADS * ROT_PER_THREAD);
    CHECK(rot.olds > 0 && rot.news > 0);

    /* A failed reload changes nothing. */
    next.cert = "not a pem";
    CHECK_RESULT(sack_tcp_reload_tls(srv.listener, &next), SACK_TCP_ERR_BAD_PEM);
    sack_tcp_options nocert = new_options();
    CHECK_RESULT(sack_tcp_reload_tls(srv.listener, &nocert), SACK_TCP_ERR_INVALID_ARGUMENT);
    CHECK_RESULT(sack_tcp_reload_tls(srv.listener, NULL), SACK_TCP_ERR_NULL_POINTER);
    CHECK_RESULT(sack_tcp_reload_tls(NULL, &next), SACK_TCP_ERR_NULL_POINTER);

    /* Removing an SNI name: a.example.com served, then not (no default). */
    char *acert = read_cert("a.example.com.pem"), *akey = read_cert("a.example.com.key");
    sack_tcp_tls_host hosts[1] = {{.host = "a.example.com", .cert = acert, .key = akey}};
    sack_tcp_options sni = new_options();
    sni.hosts = hosts;
    sni.hosts_count = 1;
    CHECK_OK(sack_tcp_reload_tls(srv.listener, &sni));
    sack_tcp_options o = new_options();
    o.ssl = true;
    o.ca = f.ca;
    o.host = "a.example.com";
    recorder cli;
    recorder_init(&cli);
    sack_tcp *c = open_client_to(&cli, srv.port, &o);
    WAIT_UNTIL(cli.readies == 1 || cli.closes == 1);
    CHECK_EQ(cli.readies, 1);
    size_t removed = 9;
    CHECK_OK(sack_tcp_remove_cert(srv.listener, "a.example.com~b.example.com", &removed));
    CHECK_EQ(removed, 1);
    /* The connection in progress keeps going. */
    CHECK_OK(sack_tcp_send(c, "x", 1));
    CHECK_OK(sack_tcp_close(c));
    WAIT_UNTIL(cli.closes == 1);
    CHECK_EQ(cli.errors, 0);
    sack_tcp_free(c);
    recorder_destroy(&cli);
    recorder_init(&cli);
    o.tls_no_resumption = true;
    c = open_client_to(&cli, srv.port, &o);
    WAIT_UNTIL(cli.closes == 1);
    CHECK_EQ(cli.readies, 0);
    sack_tcp_free(c);
    recorder_destroy(&cli);
    CHECK_RESULT(sack_tcp_remove_cert(srv.listener, "bad host!", &removed), SACK_TCP_ERR_INVALID_ARGUMENT);
    CHECK_RESULT(sack_tcp_remove_cert(srv.listener, NULL, &removed), SACK_TCP_ERR_NULL_POINTER);

    /* Not applicable on a plain listener. */
    server plain;
    server_start(&plain, "127.0.0.1", NULL);
    CHECK_RESULT(sack_tcp_reload_tls(plain.listener, &sni), SACK_TCP_ERR_NOT_APPLICABLE);
    CHECK_RESULT(sack_tcp_remove_cert(plain.listener, "a.example.com", NULL), SACK_TCP_ERR_NOT_APPLICABLE);
    server_stop(&plain);
    server_destroy(&plain);

    sack_tcp *listener = srv.listener;
    CHECK_OK(sack_tcp_retain(listener));
    server_stop(&srv);
    CHECK_RESULT(sack_tcp_reload_tls(listener, &sni), SACK_TCP_ERR_CLOSED);
    CHECK_RESULT(sack_tcp_remove_cert(listener, "a.example.com", NULL), SACK_TCP_ERR_CLOSED);
    sack_tcp_free(listener);
    server_destroy(&srv);
    free(old_c.der);
    free(new_c.der);
    free(acert);
    free(akey);
    free(both);
    free(ucert);
    free(ukey);
    tls_files_free(&f);
}

/* ---- item 7: certificates that warn before they expire ---- */

#define WARN_MAX 32
static struct {
    char messages[WARN_MAX][512];
    int n;
} warns;

static void warn_log(void *ud, int32_t level, const char *target, const char *message) {
    (void)ud;
    if (level != SACK_TCP_LOG_WARN || strcmp(target, "sack_tcp::tls::expiry") != 0) return;
    harness_lock();
    if (warns.n < WARN_MAX) snprintf(warns.messages[warns.n++], sizeof warns.messages[0], "%s", message);
    harness_unlock();
}

/* The number of warnings containing both `a` and `b`. */
static int warned(const char *a, const char *b) {
    int n = 0;
    harness_lock();
    for (int i = 0; i < warns.n; i++)
        if (strstr(warns.messages[i], a) && strstr(warns.messages[i], b)) n++;
    harness_unlock();
    return n;
}

TEST(tlsx_expiry_warnings_and_getter) {
    memset(&warns, 0, sizeof warns);
    CHECK_OK(sack_tcp_set_log_callback(warn_log, NULL, SACK_TCP_LOG_WARN));
    tls_files f = tls_files_load();
    char *ecert = read_cert("expired.pem"), *ekey = read_cert("expired.key");
    openssl_cert local = openssl_describe("localhost.pem"), expired = openssl_describe("expired.pem");

    /* The test certificates are valid for 30 days: a 1-day window says
     * nothing, a 60-day one warns at open. */
    sack_tcp_options so = new_options();
    so.cert = f.cert;
    so.key = f.key;
    so.tls_expiry_warning_days = 1;
    server quiet;
    server_start(&quiet, "127.0.0.1", &so);
    CHECK_EQ(warned("server certificate", "CN=localhost"), 0);
    server_stop(&quiet);
    server_destroy(&quiet);

    so.tls_expiry_warning_days = 60;
    server srv;
    server_start(&srv, "127.0.0.1", &so);
    CHECK_EQ(warned("server certificate (CN=localhost) expires in", "60-day"), 1);
    int64_t at = 0;
    CHECK_OK(sack_tcp_get_cert_expiry(srv.listener, &at));
    CHECK_EQ(at, local.not_after);

    /* An expired certificate added: warned, and now the earliest. */
    CHECK_OK(sack_tcp_add_cert(srv.listener, "old.example.com", ecert, ekey, NULL));
    CHECK_EQ(warned("server certificate (CN=localhost) expired", "days ago"), 1);
    CHECK_OK(sack_tcp_get_cert_expiry(srv.listener, &at));
    CHECK_EQ(at, expired.not_after);

    /* A client with a 60-day window warns of the peer's certificate. */
    sack_tcp_options o = new_options();
    o.ssl = true;
    o.ca = f.ca;
    o.host = "localhost";
    o.tls_expiry_warning_days = 60;
    recorder cli;
    recorder_init(&cli);
    sack_tcp *c = open_client_to(&cli, srv.port, &o);
    WAIT_UNTIL(cli.readies == 1);
    CHECK_EQ(warned("peer certificate (CN=localhost) expires in", "60-day"), 1);
    CHECK_RESULT(sack_tcp_get_cert_expiry(c, &at), SACK_TCP_ERR_NOT_APPLICABLE);
    CHECK_RESULT(sack_tcp_get_cert_expiry(srv.listener, NULL), SACK_TCP_ERR_NULL_POINTER);
    CHECK_RESULT(sack_tcp_get_cert_expiry(NULL, &at), SACK_TCP_ERR_NULL_POINTER);
    CHECK_OK(sack_tcp_close(c));
    WAIT_UNTIL(cli.closes == 1);
    sack_tcp_free(c);
    recorder_destroy(&cli);

    server plain;
    server_start(&plain, "127.0.0.1", NULL);
    CHECK_RESULT(sack_tcp_get_cert_expiry(plain.listener, &at), SACK_TCP_ERR_NOT_APPLICABLE);
    server_stop(&plain);
    server_destroy(&plain);

    server_stop(&srv);
    server_destroy(&srv);
    CHECK_OK(sack_tcp_set_log_callback(NULL, NULL, SACK_TCP_LOG_OFF));
    free(local.der);
    free(expired.der);
    free(ecert);
    free(ekey);
    tls_files_free(&f);
}

/* ---- item 5 (part): certificate revocation lists ---- */

/* A CRL from the test CA revoking client.pem and localhost.pem, made with
 * `openssl ca` in a temporary directory; returns its PEM (free it). */
static char *make_crl(void) {
    char dir[] = "/tmp/sack_tcp_crl_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char cnf[600], index[600], number[600], out[600], cakey[512], cacert[512];
    snprintf(cnf, sizeof cnf, "%s/ca.cnf", dir);
    snprintf(index, sizeof index, "%s/index.txt", dir);
    snprintf(number, sizeof number, "%s/crlnumber", dir);
    snprintf(out, sizeof out, "%s/crl.pem", dir);
    cert_path(cakey, sizeof cakey, "ca.key");
    cert_path(cacert, sizeof cacert, "ca.pem");
    FILE *f = fopen(cnf, "w");
    CHECK(f != NULL);
    fprintf(f, "[ca]\ndefault_ca = d\n[d]\ndatabase = %s\ncrlnumber = %s\ndefault_md = sha256\n"
               "default_crl_days = 30\n", index, number);
    fclose(f);
    f = fopen(index, "w");
    CHECK(f != NULL);
    fclose(f);
    f = fopen(number, "w");
    CHECK(f != NULL);
    fprintf(f, "1000\n");
    fclose(f);
    const char *revoke[2] = {"client.pem", "localhost.pem"};
    for (int i = 0; i < 2; i++) {
        char path[512];
        cert_path(path, sizeof path, revoke[i]);
        char *argv[] = {"openssl", "ca", "-config", cnf, "-revoke", path, "-keyfile", cakey, "-cert", cacert, NULL};
        free(run(argv, NULL));
    }
    char *gen[] = {"openssl", "ca", "-config", cnf, "-gencrl", "-keyfile", cakey, "-cert", cacert, "-out", out, NULL};
    free(run(gen, NULL));
    f = fopen(out, "rb");
    CHECK(f != NULL);
    char *pem = calloc(1, 65536);
    CHECK(pem != NULL);
    size_t n = fread(pem, 1, 65535, f);
    fclose(f);
    CHECK(n > 0 && strstr(pem, "BEGIN X509 CRL"));
    char *rm[] = {"rm", "-rf", dir, NULL};
    free(run(rm, NULL));
    return pem;
}

TEST(tlsx_crl_revoked_peers) {
    char *crl = make_crl();
    tls_files f = tls_files_load();
    char *ccert = read_cert("client.pem"), *ckey = read_cert("client.key");
    char *acert = read_cert("a.example.com.pem"), *akey = read_cert("a.example.com.key");

    /* A server checking client certificates against the CRL. */
    sack_tcp_options so = new_options();
    so.cert = f.cert;
    so.key = f.key;
    so.ca = f.ca;
    so.client_auth = SACK_TCP_CLIENT_AUTH_REQUIRE;
    so.crl = crl;
    server srv;
    server_start(&srv, "127.0.0.1", &so);
    CHECK_OK(sack_tcp_on_error(srv.listener, demote_on_error)); /* records the code */
    memset(&demo, 0, sizeof demo);

    sack_tcp_tls_info ci, si;
    sack_tcp_options o = new_options();
    o.cert = acert; /* not revoked */
    o.key = akey;
    CHECK(policy_try(&srv, o, f.ca, &ci, &si));
    /* Revoked: in TLS 1.3 the client may see ready before the server has
     * checked its certificate; the server's connection fails with 8 and
     * never gets ready, and the client is closed. */
    o.cert = ccert;
    o.key = ckey;
    o.ssl = true;
    o.ca = f.ca;
    o.host = "localhost";
    recorder rc;
    recorder_init(&rc);
    sack_tcp *revoked = open_client_to(&rc, srv.port, &o);
    WAIT_UNTIL(srv.n_conns == 2 && srv.conns[1].closes == 1 && rc.closes == 1);
    CHECK_EQ(srv.conns[1].readies, 0);
    CHECK_EQ(demo.errors, 1);
    CHECK_EQ(demo.code, SACK_TCP_TLS_REVOKED);
    sack_tcp_free(revoked);
    recorder_destroy(&rc);
    server_stop(&srv);
    server_destroy(&srv);

    /* A client checking the server's certificate (localhost.pem, revoked). */
    so = new_options();
    so.cert = f.cert;
    so.key = f.key;
    server_start(&srv, "127.0.0.1", &so);
    o = new_options();
    o.ssl = true;
    o.ca = f.ca;
    o.host = "localhost";
    o.crl = crl;
    o.tls_no_resumption = true;
    recorder cli;
    recorder_init(&cli);
    recorder_options(&cli, &o);
    memset(&client_demo, 0, sizeof client_demo);
    o.on_error = client_demote_on_error; /* records the code */
    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%u", (unsigned)srv.port);
    o.to_address = target;
    sack_tcp *c = NULL;
    CHECK_OK(sack_tcp_open(&o, &c));
    WAIT_UNTIL(cli.closes == 1);
    CHECK_EQ(cli.readies, 0);
    CHECK_EQ(client_demo.code, SACK_TCP_TLS_REVOKED);
    sack_tcp_free(c);
    recorder_destroy(&cli);
    /* Without the CRL the same client is content. */
    o = new_options();
    CHECK(policy_try(&srv, o, f.ca, &ci, &si));
    server_stop(&srv);
    server_destroy(&srv);

    /* Misuse is refused at open. */
    sack_tcp *h = NULL;
    o = new_options();
    o.to_address = "127.0.0.1:1";
    o.ssl = true;
    o.crl = crl; /* without ca */
    CHECK_RESULT(sack_tcp_open(&o, &h), SACK_TCP_ERR_INVALID_ARGUMENT);
    o.ca = f.ca;
    o.crl = "not a crl";
    CHECK_RESULT(sack_tcp_open(&o, &h), SACK_TCP_ERR_BAD_PEM);
    so = new_options();
    so.address = "127.0.0.1";
    so.cert = f.cert;
    so.key = f.key;
    so.crl = crl; /* without client_auth */
    CHECK_RESULT(sack_tcp_open(&so, &h), SACK_TCP_ERR_INVALID_ARGUMENT);
    CHECK_STR(sack_tcp_error_name(SACK_TCP_TLS_REVOKED), "SACK_TCP_TLS_REVOKED");

    free(crl);
    tls_files_free(&f);
    free(ccert);
    free(ckey);
    free(acert);
    free(akey);
}

/* ---- item 5: the tls_verify callback (pinning) ---- */

typedef struct pin_check {
    bool accept_all;        /* otherwise accept only `want` */
    unsigned char want[32]; /* a leaf's SHA-256 */
    int calls;
    size_t count;
    bool had_name;
    char name[64];
    unsigned char leaf[32], spki[32];
    bool has_spki;
    unsigned char der[4096];
    size_t der_len;
} pin_check;

static bool pin_verify(void *ud, const sack_tcp_peer_chain *chain) {
    pin_check *p = ud;
    harness_lock();
    p->calls++;
    p->count = chain->count;
    p->had_name = chain->server_name != NULL;
    if (chain->server_name) snprintf(p->name, sizeof p->name, "%s", chain->server_name);
    memcpy(p->leaf, chain->leaf_sha256, 32);
    memcpy(p->spki, chain->leaf_spki_sha256, 32);
    p->has_spki = chain->has_leaf_spki_sha256;
    p->der_len = chain->cert_lens[0] < sizeof p->der ? chain->cert_lens[0] : 0;
    memcpy(p->der, chain->certs[0], p->der_len);
    bool ok = p->accept_all || memcmp(chain->leaf_sha256, p->want, 32) == 0;
    harness_unlock();
    return ok;
}

/* RFC 7469's pin-sha256 of a certificate file's key, as openssl computes it. */
static void openssl_spki_sha256(const char *name, unsigned char out[32]) {
    char path[512], cmd[1200];
    cert_path(path, sizeof path, name);
    snprintf(cmd, sizeof cmd,
             "openssl x509 -in '%s' -pubkey -noout | openssl pkey -pubin -outform DER | openssl dgst -sha256 -r",
             path);
    char *argv[] = {"sh", "-c", cmd, NULL};
    char *text = run(argv, NULL);
    for (int i = 0; i < 32; i++) {
        unsigned v;
        if (sscanf(text + 2 * i, "%2x", &v) != 1) FAIL("bad digest %s", text);
        out[i] = (unsigned char)v;
    }
    free(text);
}

/* A TLS client to `port` checked by `p`: whether it got ready; the error
 * code in *code otherwise. */
static bool pin_try(uint16_t port, sack_tcp_options o, pin_check *p, sack_tcp_result *code) {
    o.tls_verify = pin_verify;
    o.tls_verify_user_data = p;
    recorder cli;
    recorder_init(&cli);
    recorder_options(&cli, &o);
    memset(&client_demo, 0, sizeof client_demo);
    o.on_error = client_demote_on_error; /* records the code */
    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%u", (unsigned)port);
    o.to_address = target;
    sack_tcp *c = NULL;
    CHECK_OK(sack_tcp_open(&o, &c));
    WAIT_UNTIL(cli.readies == 1 || cli.closes == 1);
    bool ready = cli.readies == 1;
    if (ready) CHECK_OK(sack_tcp_close(c));
    WAIT_UNTIL(cli.closes == 1);
    *code = client_demo.code;
    sack_tcp_free(c);
    recorder_destroy(&cli);
    return ready;
}

TEST(tlsx_verify_callback_pins) {
    tls_files f = tls_files_load();
    char *acert = read_cert("a.example.com.pem"), *akey = read_cert("a.example.com.key");
    openssl_cert want = openssl_describe("localhost.pem");
    unsigned char want_spki[32];
    openssl_spki_sha256("localhost.pem", want_spki);

    sack_tcp_options so = new_options();
    so.cert = f.cert;
    so.key = f.key;
    server srv;
    server_start(&srv, "127.0.0.1", &so);
    sack_tcp_options o = new_options();
    o.ssl = true;
    o.ca = f.ca;
    o.host = "localhost";
    sack_tcp_result code = 0;

    /* After the normal checks, the callback sees what openssl sees. */
    pin_check seen;
    memset(&seen, 0, sizeof seen);
    seen.accept_all = true;
    CHECK(pin_try(srv.port, o, &seen, &code));
    CHECK_EQ(seen.calls, 1);
    CHECK(seen.count >= 1);
    CHECK(seen.had_name);
    CHECK_STR(seen.name, "localhost");
    CHECK(memcmp(seen.leaf, want.sha256, 32) == 0);
    CHECK(seen.has_spki && memcmp(seen.spki, want_spki, 32) == 0);
    CHECK_EQ(seen.der_len, want.der_len);
    CHECK(memcmp(seen.der, want.der, want.der_len) == 0);

    /* Pinned to that fingerprint: accepted. */
    pin_check pinned;
    memset(&pinned, 0, sizeof pinned);
    memcpy(pinned.want, want.sha256, 32);
    CHECK(pin_try(srv.port, o, &pinned, &code));
    CHECK_EQ(pinned.calls, 1);
    server_stop(&srv);
    server_destroy(&srv);

    /* Another server, trusted by `ca` too: the pin rejects it, with its
     * own code. With verification skipped the callback alone decides. */
    so.cert = acert;
    so.key = akey;
    server_start(&srv, "127.0.0.1", &so);
    pin_check other;
    memset(&other, 0, sizeof other);
    memcpy(other.want, want.sha256, 32);
    o.host = "a.example.com";
    CHECK(!pin_try(srv.port, o, &other, &code));
    CHECK_EQ(other.calls, 1);
    CHECK_EQ(code, SACK_TCP_TLS_REJECTED);
    CHECK_STR(other.name, "a.example.com");
    pin_check skip;
    memset(&skip, 0, sizeof skip);
    memcpy(skip.want, want.sha256, 32);
    sack_tcp_options insecure = new_options();
    insecure.ssl = true;
    insecure.tls_insecure_skip_verify = true;
    CHECK(!pin_try(srv.port, insecure, &skip, &code));
    CHECK_EQ(code, SACK_TCP_TLS_REJECTED);
    pin_check skip_ok;
    memset(&skip_ok, 0, sizeof skip_ok);
    openssl_cert a = openssl_describe("a.example.com.pem");
    memcpy(skip_ok.want, a.sha256, 32);
    CHECK(pin_try(srv.port, insecure, &skip_ok, &code));
    free(a.der);
    /* The normal checks come first: an untrusted name never reaches it. */
    pin_check never;
    memset(&never, 0, sizeof never);
    never.accept_all = true;
    o.host = "localhost";
    CHECK(!pin_try(srv.port, o, &never, &code));
    CHECK_EQ(never.calls, 0);
    CHECK_EQ(code, SACK_TCP_TLS_BAD_NAME);
    server_stop(&srv);
    server_destroy(&srv);

    /* A server checking client certificates: a rejection fails the
     * server's connection with SACK_TCP_TLS_REJECTED. */
    char *ccert = read_cert("client.pem"), *ckey = read_cert("client.key");
    openssl_cert client_want = openssl_describe("client.pem");
    for (int accept = 0; accept <= 1; accept++) {
        pin_check server_pin;
        memset(&server_pin, 0, sizeof server_pin);
        server_pin.accept_all = accept;
        so = new_options();
        so.cert = f.cert;
        so.key = f.key;
        so.ca = f.ca;
        so.client_auth = SACK_TCP_CLIENT_AUTH_REQUIRE;
        so.tls_verify = pin_verify;
        so.tls_verify_user_data = &server_pin;
        server_start(&srv, "127.0.0.1", &so);
        CHECK_OK(sack_tcp_on_error(srv.listener, demote_on_error)); /* records the code */
        memset(&demo, 0, sizeof demo);
        sack_tcp_options co = new_options();
        co.cert = ccert;
        co.key = ckey;
        co.ssl = true;
        co.ca = f.ca;
        co.host = "localhost";
        recorder rc;
        recorder_init(&rc);
        sack_tcp *c = open_client_to(&rc, srv.port, &co);
        /* In TLS 1.3 the client may be ready before the server has checked
         * its certificate; the server's side decides. */
        WAIT_UNTIL(srv.n_conns == 1 && (srv.conns[0].readies == 1 || srv.conns[0].closes == 1));
        CHECK_EQ(server_pin.calls, 1);
        CHECK(!server_pin.had_name);
        CHECK(memcmp(server_pin.leaf, client_want.sha256, 32) == 0);
        if (accept) {
            CHECK_EQ(srv.conns[0].readies, 1);
            CHECK_EQ(demo.errors, 0);
            CHECK_OK(sack_tcp_close(c));
        } else {
            CHECK_EQ(srv.conns[0].readies, 0);
            CHECK_EQ(demo.code, SACK_TCP_TLS_REJECTED);
        }
        WAIT_UNTIL(rc.closes == 1 && srv.conns[0].closes == 1);
        sack_tcp_free(c);
        recorder_destroy(&rc);
        server_stop(&srv);
        server_destroy(&srv);
    }
    free(client_want.der);

    /* Refused where there is nothing to check. */
    sack_tcp *h = NULL;
    so = new_options();
    so.address = "127.0.0.1";
    so.cert = f.cert;
    so.key = f.key;
    so.tls_verify = pin_verify;
    CHECK_RESULT(sack_tcp_open(&so, &h), SACK_TCP_ERR_NOT_APPLICABLE); /* no client_auth */
    CHECK(strstr(sack_tcp_last_error_message(), "tls_verify") != NULL);
    so.cert = so.key = NULL;
    CHECK_RESULT(sack_tcp_open(&so, &h), SACK_TCP_ERR_NOT_APPLICABLE); /* plain server */
    CHECK(h == NULL);
    CHECK_STR(sack_tcp_error_name(SACK_TCP_TLS_REJECTED), "SACK_TCP_TLS_REJECTED");

    free(want.der);
    tls_files_free(&f);
    free(acert);
    free(akey);
    free(ccert);
    free(ckey);
}

/* ---- item 6 (optional part): the tls_client_hello callback ---- */

static struct {
    sack_tcp *listener;
    char *bcert, *bkey;
    int calls, added;
    sack_tcp_result add_rc;
    char last_name[64];
    char alpn[64]; /* the offered names, comma-separated */
} hello_state;

static bool on_hello(void *ud, const sack_tcp_client_hello *hello) {
    (void)ud;
    harness_lock();
    hello_state.calls++;
    snprintf(hello_state.last_name, sizeof hello_state.last_name, "%s",
             hello->server_name ? hello->server_name : "(none)");
    hello_state.alpn[0] = 0;
    for (size_t i = 0; i < hello->alpn_count; i++) {
        size_t at = strlen(hello_state.alpn);
        snprintf(hello_state.alpn + at, sizeof hello_state.alpn - at, "%s%.*s", i ? "," : "",
                 (int)hello->alpn_lens[i], (const char *)hello->alpn[i]);
    }
    bool evil = hello->server_name && strcmp(hello->server_name, "evil.example.com") == 0;
    bool fresh = hello->server_name && strcmp(hello->server_name, "b.example.com") == 0 && !hello_state.added;
    harness_unlock();
    if (fresh) {
        /* A certificate for a name first seen now, served from this very
         * handshake on. */
        sack_tcp_result rc =
            sack_tcp_add_cert(hello_state.listener, "b.example.com", hello_state.bcert, hello_state.bkey, NULL);
        harness_lock();
        hello_state.add_rc = rc;
        hello_state.added++;
        harness_unlock();
    }
    return !evil;
}

/* A TLS client for `host` (with `alpn` offered): whether it got ready, and
 * its info if so. */
static bool hello_client(uint16_t port, const char *host, const char *alpn, const char *ca,
                         sack_tcp_tls_info *info) {
    sack_tcp_options o = new_options();
    o.ssl = true;
    o.ca = ca;
    o.host = host;
    o.alpn = alpn;
    recorder cli;
    recorder_init(&cli);
    sack_tcp *c = open_client_to(&cli, port, &o);
    WAIT_UNTIL(cli.readies == 1 || cli.closes == 1);
    bool ready = cli.readies == 1;
    if (ready) {
        *info = get_info(c);
        CHECK_OK(sack_tcp_close(c));
    }
    WAIT_UNTIL(cli.closes == 1);
    sack_tcp_free(c);
    recorder_destroy(&cli);
    return ready;
}

TEST(tlsx_client_hello_callback_adds_or_rejects) {
    char *acert = read_cert("a.example.com.pem"), *akey = read_cert("a.example.com.key"), *ca = read_cert("ca.pem");
    memset(&hello_state, 0, sizeof hello_state);
    hello_state.bcert = read_cert("b.example.com.pem");
    hello_state.bkey = read_cert("b.example.com.key");
    openssl_cert b = openssl_describe("b.example.com.pem");

    sack_tcp_options so = new_options();
    so.cert = acert; /* the listener's default */
    so.key = akey;
    so.alpn = "h2,http/1.1";
    so.tls_client_hello = on_hello;
    server srv;
    server_start(&srv, "127.0.0.1", &so);
    hello_state.listener = srv.listener;
    CHECK_OK(sack_tcp_on_error(srv.listener, demote_on_error)); /* records the code */
    memset(&demo, 0, sizeof demo);

    /* Served on demand: the client verifies b.example.com's certificate. */
    sack_tcp_tls_info ci;
    CHECK(hello_client(srv.port, "b.example.com", "h2,http/1.1", ca, &ci));
    CHECK(memcmp(ci.peer_sha256, b.sha256, 32) == 0);
    CHECK_EQ(hello_state.calls, 1);
    CHECK_EQ(hello_state.added, 1);
    CHECK_EQ(hello_state.add_rc, SACK_TCP_OK);
    CHECK_STR(hello_state.last_name, "b.example.com");
    CHECK_STR(hello_state.alpn, "h2,http/1.1");

    /* Once added it stays: the next client for it needs nothing more. */
    CHECK(hello_client(srv.port, "b.example.com", NULL, ca, &ci));
    CHECK(memcmp(ci.peer_sha256, b.sha256, 32) == 0);
    CHECK_EQ(hello_state.calls, 2);
    CHECK_EQ(hello_state.added, 1);
    CHECK_STR(hello_state.alpn, "");

    /* Turned away before any certificate is sent. */
    sack_tcp_options o = new_options();
    o.ssl = true;
    o.ca = ca;
    o.host = "evil.example.com";
    recorder evil;
    recorder_init(&evil);
    sack_tcp *c = open_client_to(&evil, srv.port, &o);
    WAIT_UNTIL(evil.closes == 1 && srv.n_conns == 3 && srv.conns[2].closes == 1);
    CHECK_EQ(evil.readies, 0);
    CHECK_EQ(srv.conns[2].readies, 0);
    CHECK_EQ(hello_state.calls, 3);
    CHECK_EQ(demo.code, SACK_TCP_TLS_REJECTED);
    sack_tcp_free(c);
    recorder_destroy(&evil);
    server_stop(&srv);
    server_destroy(&srv);

    /* Refused where it cannot apply. */
    sack_tcp *h = NULL;
    o = new_options();
    o.to_address = "127.0.0.1:1";
    o.ssl = true;
    o.tls_client_hello = on_hello;
    CHECK_RESULT(sack_tcp_open(&o, &h), SACK_TCP_ERR_NOT_APPLICABLE);
    so = new_options();
    so.address = "127.0.0.1";
    so.tls_client_hello = on_hello; /* a plain server */
    CHECK_RESULT(sack_tcp_open(&so, &h), SACK_TCP_ERR_NOT_APPLICABLE);
    CHECK(h == NULL);

    free(b.der);
    free(acert);
    free(akey);
    free(ca);
    free(hello_state.bcert);
    free(hello_state.bkey);
}

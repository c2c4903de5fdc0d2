/* A guest in the host's process: no signals (SIGPIPE stays at the host's
 * disposition), drain on every path, addresses that outlive the
 * connection, read flow control (pause/resume and pause-on-full),
 * half-close, and bounded queued delivery. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* ---- connection modes: every write path of the library ---- */

typedef enum mode { M_PLAIN, M_TLS, M_FALLBACK_TLS, M_FALLBACK_PLAIN, M_STARTTLS, M_COUNT } mode;
static const char *const mode_names[M_COUNT] = {"plain", "tls", "fallback-tls", "fallback-plain",
                                                "starttls"};

typedef struct tls_files {
    char *cert, *key, *ca;
} tls_files;

static tls_files tls_load(void) {
    tls_files f = {read_cert("localhost.pem"), read_cert("localhost.key"), read_cert("ca.pem")};
    return f;
}

static void tls_free(tls_files *f) {
    free(f->cert);
    free(f->key);
    free(f->ca);
}

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
    tls_files f = tls_load();
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
    tls_free(&f);
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
    tls_files f = tls_load();
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
    tls_free(&f);
}

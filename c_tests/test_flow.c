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

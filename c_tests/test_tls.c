/* TLS: handshake and echo, and the events around it. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"

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

/* TLS and plain TCP on one port (allowSSLfallback): an echo server that
 * tells, for each connection, which one the client spoke.
 *
 * Usage: sack_tcp_fallback_server --cert FILE --key FILE [--address ADDR]
 *                                 [--port N] [--max-connections N]
 *
 *   --cert FILE, --key FILE   the server's certificate chain and key (PEM)
 *   --address ADDR            where to listen (default 127.0.0.1)
 *   --port N                  the port (default 0: the OS picks one)
 *   --max-connections N       exit once N connections have closed (default:
 *                             run until SIGINT or SIGTERM)
 *
 * The library looks at each client's first bytes: a TLS hello gets a TLS
 * handshake, anything else is served as plain TCP (and so is a client that
 * says nothing for the handshake timeout). The ready callback comes once
 * that is decided; sack_tcp_get_ssl then tells which it was. Prints
 * "listening on PORT", then "tls connection from PEER" or "plain connection
 * from PEER" for each client. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "example_util.h"
#include "sack_tcp.h"

typedef struct {
    char peer[SACK_TCP_ADDRESS_MAX + 8];
    unsigned long long bytes;
} connection;

static long max_connections; /* 0: no limit */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long closed_connections, tls_connections, plain_connections; /* guarded by lock */

static void describe_peer(sack_tcp *conn, char *out, size_t size) {
    char ip[SACK_TCP_ADDRESS_MAX] = "?";
    uint16_t port = 0;
    sack_tcp_get_remote_address(conn, ip, sizeof ip);
    sack_tcp_get_remote_port(conn, &port);
    snprintf(out, size, strchr(ip, ':') ? "[%s]:%u" : "%s:%u", ip, (unsigned)port);
}

/* TLS client: after its handshake. Plain client: as soon as its first
 * bytes show it is not TLS (they are delivered as messages next). */
static void conn_ready(void *ud, sack_tcp *conn) {
    connection *c = ud;
    bool secure = false;
    sack_tcp_get_ssl(conn, &secure);
    printf("%s connection from %s\n", secure ? "tls" : "plain", c->peer);
    pthread_mutex_lock(&lock);
    if (secure)
        tls_connections++;
    else
        plain_connections++;
    pthread_mutex_unlock(&lock);
}

static void conn_message(void *ud, sack_tcp *conn, const uint8_t *data, size_t len) {
    connection *c = ud;
    if (sack_tcp_send(conn, data, len) == SACK_TCP_OK) c->bytes += len;
}

static void conn_error(void *ud, sack_tcp *conn, sack_tcp_result code, const char *message,
                       const uint8_t *data, size_t len) {
    connection *c = ud;
    (void)conn;
    (void)data;
    (void)len;
    printf("error on %s: %s (%d): %s\n", c->peer, sack_tcp_error_name(code), (int)code, message);
}

static void conn_close(void *ud, sack_tcp *conn) {
    connection *c = ud;
    printf("closed %s (%llu bytes echoed)\n", c->peer, c->bytes);
    free(c);
    sack_tcp_free(conn);

    pthread_mutex_lock(&lock);
    long closed = ++closed_connections;
    pthread_mutex_unlock(&lock);
    if (closed == max_connections) example_stop();
}

static void server_connect(void *ud, sack_tcp *conn, sack_tcp_result status) {
    (void)ud;
    (void)status;
    connection *c = calloc(1, sizeof *c);
    if (c == NULL) {
        sack_tcp_abort(conn);
        sack_tcp_free(conn);
        return;
    }
    describe_peer(conn, c->peer, sizeof c->peer);
    sack_tcp_set_user_data(conn, c);
    sack_tcp_on_ready(conn, conn_ready);
    sack_tcp_on_message(conn, conn_message);
    sack_tcp_on_error(conn, conn_error);
    sack_tcp_on_close(conn, conn_close);
}

static int usage(const char *program) {
    fprintf(stderr,
            "usage: %s --cert FILE --key FILE [--address ADDR] [--port N]\n"
            "       [--max-connections N]\n"
            "  --cert, --key      certificate chain and key (PEM)\n"
            "  --address ADDR     listen address (default 127.0.0.1)\n"
            "  --port N           port, 0 picks a free one (default 0)\n"
            "  --max-connections N\n"
            "                     exit after N connections closed (default: run\n"
            "                     until SIGINT/SIGTERM)\n",
            program);
    return 2;
}

int main(int argc, char **argv) {
    const char *cert_file = NULL, *key_file = NULL, *address = "127.0.0.1";
    long port = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(arg, "--cert") == 0 && value) {
            cert_file = argv[++i];
        } else if (strcmp(arg, "--key") == 0 && value) {
            key_file = argv[++i];
        } else if (strcmp(arg, "--address") == 0 && value) {
            address = argv[++i];
        } else if (strcmp(arg, "--port") == 0 && value && parse_number(value, 0, 65535, &port)) {
            i++;
        } else if (strcmp(arg, "--max-connections") == 0 && value &&
                   parse_number(value, 1, 1000000000L, &max_connections)) {
            i++;
        } else {
            return usage(argv[0]);
        }
    }
    if (cert_file == NULL || key_file == NULL) return usage(argv[0]);

    char *cert = read_file(cert_file);
    char *key = read_file(key_file);
    if (cert == NULL || key == NULL) {
        fprintf(stderr, "cannot read %s or %s\n", cert_file, key_file);
        free(cert);
        free(key);
        return 1;
    }

    example_catch_stop_signals();

    sack_tcp_options o;
    sack_tcp_options_init(&o);
    o.address = address;
    o.port = (int32_t)port;
    o.cert = cert;
    o.key = key;
    o.allow_ssl_fallback = true; /* TLS or plain, decided per connection */
    o.on_connect = server_connect;
    sack_tcp *listener = NULL;
    sack_tcp_result r = sack_tcp_open(&o, &listener);
    free(cert); /* copied by sack_tcp_open */
    free(key);
    if (r != SACK_TCP_OK) {
        fprintf(stderr, "cannot listen: %s\n", sack_tcp_last_error_message());
        return 1;
    }
    example_print_port(listener);

    example_wait_for_stop();

    size_t left = 0;
    bool ok = example_shutdown(listener, &left);
    printf("served %ld connections (%ld tls, %ld plain), %zu handles left\n", closed_connections,
           tls_connections, plain_connections, left);
    return ok && left == 0 ? 0 : 1;
}

/* A TCP echo server: every byte a client sends comes back to it.
 *
 * Usage: sack_tcp_echo_server [--address ADDR] [--port N] [--text]
 *                             [--max-connections N]
 *
 *   --address ADDR        where to listen (default 127.0.0.1; "::" or
 *                         "0.0.0.0" for every interface)
 *   --port N              the port (default 0: the OS picks a free one)
 *   --text                text mode: data arrives as UTF-8 C strings,
 *                         which the server also prints
 *   --max-connections N   exit once N connections have closed (default:
 *                         run until SIGINT or SIGTERM)
 *
 * Prints "listening on PORT" first, then one line per event. The listener
 * sets only its connect callback; each accepted connection gets its own
 * callbacks and user data (its address and a byte count) in that connect
 * callback, before any of its other events can come. Callbacks run on
 * sack_tcp's threads; main only waits, then cleans up. */
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

/* What the server remembers about one connection (its user data). */
typedef struct {
    char peer[SACK_TCP_ADDRESS_MAX + 8]; /* "IP:port" or "[IPv6]:port" */
    unsigned long long bytes;            /* echoed so far */
} connection;

static bool text_mode;
static long max_connections; /* 0: no limit */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long closed_connections; /* guarded by lock */

static void describe_peer(sack_tcp *conn, char *out, size_t size) {
    char ip[SACK_TCP_ADDRESS_MAX] = "?";
    uint16_t port = 0;
    sack_tcp_get_remote_address(conn, ip, sizeof ip);
    sack_tcp_get_remote_port(conn, &port);
    snprintf(out, size, strchr(ip, ':') ? "[%s]:%u" : "%s:%u", ip, (unsigned)port);
}

static void conn_message(void *ud, sack_tcp *conn, const uint8_t *data, size_t len) {
    connection *c = ud;
    if (text_mode) /* data[len] is a NUL in text mode */
        printf("received from %s: %s\n", c->peer, (const char *)data);
    sack_tcp_result r = sack_tcp_send(conn, data, len);
    if (r == SACK_TCP_OK)
        c->bytes += len;
    else
        printf("cannot echo to %s: %s\n", c->peer, sack_tcp_strerror(r));
}

static void conn_error(void *ud, sack_tcp *conn, sack_tcp_result code, const char *message,
                       const uint8_t *data, size_t len) {
    connection *c = ud;
    (void)conn;
    (void)data;
    (void)len;
    printf("error on %s: %s: %s\n", c->peer, sack_tcp_error_name(code), message);
}

/* The last callback a connection gets: release everything that is ours. */
static void conn_close(void *ud, sack_tcp *conn) {
    connection *c = ud;
    printf("closed %s (%llu bytes echoed)\n", c->peer, c->bytes);
    free(c);
    sack_tcp_free(conn); /* the reference the connect callback gave us */

    pthread_mutex_lock(&lock);
    long closed = ++closed_connections;
    pthread_mutex_unlock(&lock);
    if (closed == max_connections) example_stop();
}

/* The listener's connect callback: `conn` is a new connection, ours to free. */
static void server_connect(void *ud, sack_tcp *conn, sack_tcp_result status) {
    (void)ud;
    (void)status; /* always SACK_TCP_OK for a listener */
    connection *c = calloc(1, sizeof *c);
    if (c == NULL) {
        sack_tcp_abort(conn);
        sack_tcp_free(conn);
        return;
    }
    describe_peer(conn, c->peer, sizeof c->peer);
    printf("connection from %s\n", c->peer);
    sack_tcp_set_user_data(conn, c);
    sack_tcp_on_message(conn, conn_message);
    sack_tcp_on_error(conn, conn_error);
    sack_tcp_on_close(conn, conn_close);
}

static void listener_error(void *ud, sack_tcp *listener, sack_tcp_result code,
                           const char *message, const uint8_t *data, size_t len) {
    (void)ud;
    (void)listener;
    (void)data;
    (void)len;
    printf("accept failed: %s: %s\n", sack_tcp_error_name(code), message);
}

static int usage(const char *program) {
    fprintf(stderr,
            "usage: %s [--address ADDR] [--port N] [--text] [--max-connections N]\n"
            "  --address ADDR        listen address (default 127.0.0.1)\n"
            "  --port N              port, 0 picks a free one (default 0)\n"
            "  --text                receive text (UTF-8) and print it\n"
            "  --max-connections N   exit after N connections closed (default: run\n"
            "                        until SIGINT/SIGTERM)\n",
            program);
    return 2;
}

int main(int argc, char **argv) {
    const char *address = "127.0.0.1";
    long port = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(arg, "--text") == 0) {
            text_mode = true;
        } else if (strcmp(arg, "--address") == 0 && value) {
            address = value;
            i++;
        } else if (strcmp(arg, "--port") == 0 && value && parse_number(value, 0, 65535, &port)) {
            i++;
        } else if (strcmp(arg, "--max-connections") == 0 && value &&
                   parse_number(value, 1, 1000000000L, &max_connections)) {
            i++;
        } else {
            return usage(argv[0]);
        }
    }

    /* Every line goes out as soon as it is printed, even into a file or a
     * pipe, so that whoever started the server sees the port at once. */
    example_catch_stop_signals();

    sack_tcp_options o;
    sack_tcp_options_init(&o);
    o.address = address; /* a port inside it wins over o.port */
    o.port = (int32_t)port;
    o.read_strings = text_mode; /* inherited by every accepted connection */
    o.on_connect = server_connect;
    o.on_error = listener_error;
    sack_tcp *listener = NULL;
    if (sack_tcp_open(&o, &listener) != SACK_TCP_OK) {
        fprintf(stderr, "cannot listen on %s: %s\n", address, sack_tcp_last_error_message());
        return 1;
    }
    example_print_port(listener);

    example_wait_for_stop();

    size_t left = 0;
    bool ok = example_shutdown(listener, &left);
    printf("served %ld connections, %zu handles left\n", closed_connections, left);
    return ok && left == 0 ? 0 : 1;
}

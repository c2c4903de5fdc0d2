/* TLS client connections per second from sack_tcp clients that reconnect
 * (issue 14, item 3).
 *
 * Usage: sack_reconnect --cert FILE --key FILE --ca FILE
 *                       [--mode shared|distinct] [--seconds S]
 *
 * Starts a sack_tcp TLS server on 127.0.0.1 port 0 in this process, then
 * opens one client at a time for S seconds (default 3): open, ready, send
 * one byte, get it back, close, wait for close. Prints connections/s and
 * how many resumed.
 *
 * --mode shared (default): every client has the same `ca`, as a client
 *   that reconnects has: since item 3 they share one ClientConfig, so they
 *   resume and do not rebuild the verifier.
 * --mode distinct: every client's `ca` carries a different comment line
 *   before the PEM block (same roots, different settings), so each open
 *   builds its own config, parses the CA and cannot resume: what every
 *   client did before item 3. */
#define _POSIX_C_SOURCE 200809L
#include <semaphore.h>
#include <stdatomic.h>
#include <time.h>

#include "common.h"
#include "sack_tcp.h"

static sem_t closed;
static atomic_int resumed, failed;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void srv_message(void *ud, sack_tcp *conn, const uint8_t *data, size_t len) {
    (void)ud;
    sack_tcp_send(conn, data, len);
}

static void srv_connect(void *ud, sack_tcp *conn, sack_tcp_result status) {
    (void)ud;
    (void)conn;
    (void)status;
}

static void srv_close(void *ud, sack_tcp *s) {
    (void)ud;
    bool listener = false;
    sack_tcp_is_listener(s, &listener);
    if (!listener) sack_tcp_free(s);
}

static void cli_ready(void *ud, sack_tcp *s) {
    (void)ud;
    sack_tcp_send(s, "x", 1);
}

static void cli_message(void *ud, sack_tcp *s, const uint8_t *data, size_t len) {
    (void)ud;
    (void)data;
    (void)len;
    sack_tcp_tls_info info;
    if (sack_tcp_get_tls_info(s, &info, sizeof info) == SACK_TCP_OK && info.resumed)
        atomic_fetch_add(&resumed, 1);
    sack_tcp_close(s);
}

static void cli_error(void *ud, sack_tcp *s, sack_tcp_result code, const char *msg, const uint8_t *data,
                      size_t len) {
    (void)ud;
    (void)s;
    (void)data;
    (void)len;
    fprintf(stderr, "client error %d: %s\n", (int)code, msg);
    atomic_fetch_add(&failed, 1);
}

static void cli_close(void *ud, sack_tcp *s) {
    (void)ud;
    sack_tcp_free(s);
    sem_post(&closed);
}

int main(int argc, char **argv) {
    const char *cert = NULL, *key = NULL, *ca_file = NULL, *mode = "shared";
    double seconds = 3;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--cert")) cert = argv[i + 1];
        else if (!strcmp(argv[i], "--key")) key = argv[i + 1];
        else if (!strcmp(argv[i], "--ca")) ca_file = argv[i + 1];
        else if (!strcmp(argv[i], "--mode")) mode = argv[i + 1];
        else if (!strcmp(argv[i], "--seconds")) seconds = atof(argv[i + 1]);
    }
    if (!cert || !key || !ca_file || (strcmp(mode, "shared") && strcmp(mode, "distinct"))) {
        fprintf(stderr, "usage: sack_reconnect --cert F --key F --ca F [--mode shared|distinct] [--seconds S]\n");
        return 2;
    }
    bench_process_limits();
    sem_init(&closed, 0, 0);
    char *cert_pem = bench_read_file(cert), *key_pem = bench_read_file(key), *ca_pem = bench_read_file(ca_file);

    sack_tcp_options so;
    sack_tcp_options_init(&so);
    so.address = "127.0.0.1:0";
    so.cert = cert_pem;
    so.key = key_pem;
    so.on_connect = srv_connect;
    so.on_message = srv_message;
    so.on_close = srv_close;
    sack_tcp *listener = NULL;
    if (sack_tcp_open(&so, &listener) != SACK_TCP_OK) {
        fprintf(stderr, "listen: %s\n", sack_tcp_last_error_message());
        return 1;
    }
    uint16_t port = 0;
    sack_tcp_get_local_port(listener, &port);
    char target[32];
    snprintf(target, sizeof target, "127.0.0.1:%u", (unsigned)port);

    size_t ca_cap = strlen(ca_pem) + 64;
    char *ca = malloc(ca_cap);
    long n = 0;
    double start = now(), end = start + seconds;
    while (now() < end) {
        if (!strcmp(mode, "distinct"))
            snprintf(ca, ca_cap, "client %ld\n%s", n, ca_pem);
        else
            snprintf(ca, ca_cap, "%s", ca_pem);
        sack_tcp_options o;
        sack_tcp_options_init(&o);
        o.to_address = target;
        o.ssl = true;
        o.ca = ca;
        o.host = "localhost";
        o.on_ready = cli_ready;
        o.on_message = cli_message;
        o.on_error = cli_error;
        o.on_close = cli_close;
        sack_tcp *c = NULL;
        if (sack_tcp_open(&o, &c) != SACK_TCP_OK) {
            fprintf(stderr, "open: %s\n", sack_tcp_last_error_message());
            return 1;
        }
        sem_wait(&closed);
        n++;
    }
    double took = now() - start;
    /* key=value, the form bench/run records. */
    printf("mode=%s connections=%ld seconds=%.2f conns_per_s=%.0f resumed=%d failed=%d\n", mode, n, took,
           (double)n / took, atomic_load(&resumed), atomic_load(&failed));
    sack_tcp_close(listener);
    sack_tcp_shutdown();
    sack_tcp_free(listener);
    free(ca);
    free(cert_pem);
    free(key_pem);
    free(ca_pem);
    return atomic_load(&failed) ? 1 : 0;
}

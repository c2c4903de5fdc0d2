/* The sack_tcp echo server of the benchmark (plain or TLS).
 *
 * Usage: sack_echo [--port N] [--tls --cert FILE --key FILE]
 *                  [--threads N] [--read-buffer BYTES] [--log LEVEL]
 *
 * --log 4 prints the library's records down to debug level on stderr.
 *
 * Everything is left at the library's defaults unless an option says
 * otherwise (worker threads: one per CPU; read buffer: 4096). The echo is
 * sack_tcp_send from the message callback, which is how the README tells
 * users to write one. Prints "listening on PORT"; SIGTERM shuts down. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <semaphore.h>
#include <stdatomic.h>

#include "common.h"
#include "sack_tcp.h"

static sack_tcp *listener;
static sem_t wake;
static atomic_ulong send_errors;

static void on_signal(int sig) {
    (void)sig;
    sem_post(&wake);
}

static void on_log(void *ud, int32_t level, const char *target, const char *message) {
    (void)ud;
    fprintf(stderr, "sack_tcp log %d %s: %s\n", (int)level, target, message);
}

static void on_message(void *ud, sack_tcp *conn, const uint8_t *data, size_t len) {
    (void)ud;
    if (sack_tcp_send(conn, data, len) != SACK_TCP_OK) atomic_fetch_add(&send_errors, 1);
}

/* Having a connect callback makes each accepted handle ours (freed in
 * on_close), whatever the library's ownership default for listeners
 * without one. */
static void on_connect(void *ud, sack_tcp *conn, sack_tcp_result status) {
    (void)ud;
    (void)conn;
    (void)status;
}

static void on_close(void *ud, sack_tcp *conn) {
    (void)ud;
    if (conn != listener) sack_tcp_free(conn); /* accepted handles are ours */
}

int main(int argc, char **argv) {
    int port = 0;
    bool tls = false;
    const char *cert_file = NULL, *key_file = NULL;
    long threads = 0, read_buffer = 0;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--port") == 0 && v) {
            port = atoi(v), i++;
        } else if (strcmp(argv[i], "--tls") == 0) {
            tls = true;
        } else if (strcmp(argv[i], "--cert") == 0 && v) {
            cert_file = v, i++;
        } else if (strcmp(argv[i], "--key") == 0 && v) {
            key_file = v, i++;
        } else if (strcmp(argv[i], "--threads") == 0 && v) {
            threads = atol(v), i++;
        } else if (strcmp(argv[i], "--log") == 0 && v) {
            sack_tcp_set_log_callback(on_log, NULL, (int32_t)atoi(v)), i++;
        } else if (strcmp(argv[i], "--read-buffer") == 0 && v) {
            read_buffer = atol(v), i++;
        } else {
            fprintf(stderr,
                    "usage: %s [--port N] [--tls --cert FILE --key FILE] [--threads N] "
                    "[--read-buffer BYTES] [--log LEVEL]\n",
                    argv[0]);
            return 2;
        }
    }
    if (tls && (!cert_file || !key_file)) {
        fprintf(stderr, "--tls needs --cert and --key\n");
        return 2;
    }
    bench_process_limits();
    sem_init(&wake, 0, 0);
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    if (threads > 0) {
        sack_tcp_runtime_options ro;
        sack_tcp_runtime_options_init(&ro);
        ro.worker_threads = (uint32_t)threads;
        if (sack_tcp_runtime_start(&ro) != SACK_TCP_OK) {
            fprintf(stderr, "runtime: %s\n", sack_tcp_last_error_message());
            return 1;
        }
    }

    sack_tcp_options o;
    sack_tcp_options_init(&o);
    o.address = "127.0.0.1";
    o.port = port;
    o.backlog = 4096;
    o.on_connect = on_connect;
    o.on_message = on_message; /* inherited by every accepted connection */
    o.on_close = on_close;
    if (read_buffer > 0) o.read_buffer_size = (size_t)read_buffer;
    char *cert = NULL, *key = NULL;
    if (tls) {
        cert = bench_read_file(cert_file);
        key = bench_read_file(key_file);
        o.cert = cert;
        o.key = key;
    }
    if (sack_tcp_open(&o, &listener) != SACK_TCP_OK) {
        fprintf(stderr, "cannot listen: %s\n", sack_tcp_last_error_message());
        return 1;
    }
    free(cert);
    free(key);
    uint16_t bound = 0;
    sack_tcp_get_local_port(listener, &bound);
    printf("listening on %u\n", (unsigned)bound);
    fflush(stdout);

    while (sem_wait(&wake) != 0 && errno == EINTR) {
    }
    sack_tcp_close(listener);
    sack_tcp_result r = sack_tcp_shutdown();
    sack_tcp_free(listener);
    unsigned long errors = atomic_load(&send_errors);
    if (errors) fprintf(stderr, "sack_echo: %lu sends failed\n", errors);
    return r == SACK_TCP_OK ? 0 : 1;
}

/* The README's demo: a TLS echo server and client talking on loopback.
 *
 * Usage: sack_tcp_demo CERT_DIR, where CERT_DIR holds ca.pem, localhost.pem
 * and localhost.key (.ci/demo makes them with c_tests/make_certs.sh).
 *
 * The server listens on 127.0.0.1 with a port the OS picks and echoes
 * every message over TLS; the client connects, verifies the server's
 * certificate against the demo CA (for 127.0.0.1), sends a few lines one
 * after another (each after the previous echo came back), prints what it
 * got, and closes. Everything runs on sack_tcp's threads; main only
 * waits. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sack_tcp.h"

static const char *lines[] = {"hello", "from", "sack_tcp", NULL};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;
static int done;
static int next_line;

static void server_message(void *ud, sack_tcp *conn, const uint8_t *data, size_t len) {
    (void)ud;
    printf("server: got \"%.*s\", echoing it\n", (int)len, (const char *)data);
    sack_tcp_send(conn, data, len);
}

static void server_connect(void *ud, sack_tcp *conn, sack_tcp_result status) {
    (void)ud;
    char ip[SACK_TCP_ADDRESS_MAX];
    uint16_t port = 0;
    sack_tcp_get_remote_address(conn, ip, sizeof ip);
    sack_tcp_get_remote_port(conn, &port);
    printf("server: accepted %s:%u (status %d)\n", ip, port, status);
}

static void conn_close(void *ud, sack_tcp *conn) {
    (void)ud;
    bool listener = false;
    sack_tcp_is_listener(conn, &listener);
    if (listener) return; /* main owns (and frees) the listener */
    printf("server: connection closed\n");
    sack_tcp_free(conn); /* accepted connections are ours to free */
}

static void send_next(sack_tcp *client) {
    const char *line = lines[next_line++];
    if (line == NULL) {
        sack_tcp_close(client);
        return;
    }
    printf("client: sending \"%s\"\n", line);
    sack_tcp_send(client, line, strlen(line));
}

static void client_connect(void *ud, sack_tcp *client, sack_tcp_result status) {
    (void)ud;
    (void)client;
    printf("client: TCP connect -> %s\n", sack_tcp_strerror(status));
}

static void client_ready(void *ud, sack_tcp *client) {
    (void)ud;
    bool secure = false;
    sack_tcp_get_ssl(client, &secure);
    printf("client: TLS handshake done, certificate verified, secure: %s\n", secure ? "yes" : "no");
    send_next(client);
}

static void client_error(void *ud, sack_tcp *client, sack_tcp_result code, const char *message,
                         const uint8_t *data, size_t len) {
    (void)ud;
    (void)client;
    (void)data;
    (void)len;
    printf("client: error %s: %s\n", sack_tcp_error_name(code), message);
}

static char *slurp(const char *dir, const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)size + 1);
    if (!text || fread(text, 1, (size_t)size, f) != (size_t)size) exit(1);
    text[size] = 0;
    fclose(f);
    return text;
}

static void client_message(void *ud, sack_tcp *client, const uint8_t *data, size_t len) {
    (void)ud;
    printf("client: got back \"%.*s\"\n", (int)len, (const char *)data);
    send_next(client);
}

static void client_close(void *ud, sack_tcp *client) {
    (void)ud;
    (void)client;
    printf("client: closed\n");
    pthread_mutex_lock(&lock);
    done = 1;
    pthread_cond_signal(&done_cond);
    pthread_mutex_unlock(&lock);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s CERT_DIR\n", argv[0]);
        return 2;
    }
    char *ca = slurp(argv[1], "ca.pem");
    char *cert = slurp(argv[1], "localhost.pem");
    char *key = slurp(argv[1], "localhost.key");

    sack_tcp_options o;
    sack_tcp_options_init(&o);
    o.address = "127.0.0.1";
    o.cert = cert; /* a certificate makes the listener a TLS server */
    o.key = key;
    o.on_connect = server_connect;
    o.on_message = server_message;
    o.on_close = conn_close;
    sack_tcp *server = NULL;
    sack_tcp_result r = sack_tcp_open(&o, &server);
    if (r != SACK_TCP_OK) {
        fprintf(stderr, "listen failed: %s\n", sack_tcp_last_error_message());
        return 1;
    }
    uint16_t port = 0;
    sack_tcp_get_local_port(server, &port);
    printf("server: listening (TLS) on 127.0.0.1:%u\n", port);

    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%u", port);
    sack_tcp_options_init(&o);
    o.to_address = target;
    o.on_connect = client_connect;
    o.on_ready = client_ready;
    o.on_message = client_message;
    o.on_close = client_close;
    o.on_error = client_error;
    o.ssl = true;
    o.ca = ca; /* verify the server against the demo CA */
    sack_tcp *client = NULL;
    r = sack_tcp_open(&o, &client);
    if (r != SACK_TCP_OK) {
        fprintf(stderr, "connect failed: %s\n", sack_tcp_last_error_message());
        return 1;
    }

    pthread_mutex_lock(&lock);
    while (!done) pthread_cond_wait(&done_cond, &lock);
    pthread_mutex_unlock(&lock);

    sack_tcp_free(client);
    sack_tcp_close(server);
    sack_tcp_free(server);
    sack_tcp_shutdown();
    printf("demo: done, %zu handles left\n", sack_tcp_live_handles());
    free(ca);
    free(cert);
    free(key);
    return next_line == 4 ? 0 : 1;
}

/* An echo client: sends each message, waits for it to come back, prints it.
 *
 * Usage: sack_tcp_echo_client --to HOST:PORT [--tls [--ca FILE] [--host NAME]]
 *                             MESSAGE...
 *
 *   --to HOST:PORT   the server ("127.0.0.1:7000", "[::1]:7000", "localhost:7000")
 *   --tls            speak TLS and verify the server's certificate
 *   --ca FILE        trust only the CA certificates in FILE (PEM); without
 *                    it the system's roots are used
 *   --host NAME      the name to ask for (SNI) and verify, instead of the
 *                    host in --to
 *
 * Messages go one at a time: the next is sent once the previous one has
 * come back whole (an echo may arrive in several pieces). Then the client
 * closes. Exit status: 0 if every echo matched, 1 otherwise, 2 for bad
 * usage. All the work happens in callbacks on sack_tcp's threads. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "example_util.h"
#include "sack_tcp.h"

static const char *target;
static char **messages;
static int message_count;

/* Touched only by this socket's callbacks, which never overlap, and read
 * by main after the close callback has posted `wake`. */
static int current;     /* the message waiting for its echo */
static size_t received; /* how much of it came back so far */
static int matched;
static bool failed;

static sem_t wake; /* posted by the close callback or a signal */

static void on_signal(int sig) {
    (void)sig;
    sem_post(&wake);
}

/* Sends the current message, or closes once all have come back. */
static void send_current(sack_tcp *client) {
    if (current == message_count) {
        sack_tcp_close(client); /* graceful: flushes, FIN, waits for the peer's */
        return;
    }
    received = 0;
    sack_tcp_result r = sack_tcp_send(client, messages[current], strlen(messages[current]));
    if (r != SACK_TCP_OK) {
        printf("send failed: %s\n", sack_tcp_strerror(r));
        failed = true;
        sack_tcp_close(client);
    }
}

static void client_connect(void *ud, sack_tcp *client, sack_tcp_result status) {
    (void)ud;
    (void)client;
    if (status != SACK_TCP_OK) { /* close comes next, and nothing else */
        printf("cannot connect to %s: %s\n", target, sack_tcp_last_error_message());
        failed = true;
    }
}

/* Plain TCP: right after connect. TLS: once the handshake is done and the
 * server's certificate verified. */
static void client_ready(void *ud, sack_tcp *client) {
    (void)ud;
    bool secure = false;
    sack_tcp_get_ssl(client, &secure);
    printf("connected to %s%s\n", target, secure ? " (TLS, certificate verified)" : "");
    send_current(client);
}

static void client_message(void *ud, sack_tcp *client, const uint8_t *data, size_t len) {
    (void)ud;
    const char *want = current < message_count ? messages[current] : "";
    size_t want_len = strlen(want);
    /* Compare this piece with the part of the message it should be. */
    if (received + len > want_len || memcmp(data, want + received, len) != 0) {
        printf("unexpected echo: \"%.*s\"\n", (int)len, (const char *)data);
        failed = true;
        sack_tcp_close(client);
        return;
    }
    received += len;
    if (received < want_len) return; /* the rest is still on its way */
    printf("echo: %s\n", want);
    matched++;
    current++;
    send_current(client);
}

static void client_error(void *ud, sack_tcp *client, sack_tcp_result code, const char *message,
                         const uint8_t *data, size_t len) {
    (void)ud;
    (void)client;
    (void)data;
    (void)len;
    /* Negative: a socket error. Positive: a TLS problem, e.g.
     * SACK_TCP_TLS_BAD_NAME when the certificate is not for the host. */
    printf("error: %s (%d): %s\n", sack_tcp_error_name(code), (int)code, message);
    failed = true;
}

static void client_close(void *ud, sack_tcp *client) {
    (void)ud;
    (void)client;
    sem_post(&wake);
}

static int usage(const char *program) {
    fprintf(stderr,
            "usage: %s --to HOST:PORT [--tls [--ca FILE] [--host NAME]] MESSAGE...\n"
            "  --to HOST:PORT   the echo server\n"
            "  --tls            use TLS and verify the server\n"
            "  --ca FILE        trusted CA certificates, PEM (default: the system's)\n"
            "  --host NAME      name to request (SNI) and verify (default: HOST)\n"
            "Sends each MESSAGE (not empty), waits for its echo, prints it; exit\n"
            "status 0 if every echo matched.\n",
            program);
    return 2;
}

int main(int argc, char **argv) {
    bool tls = false;
    const char *ca_file = NULL, *host = NULL;
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        const char *arg = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(arg, "--") == 0) {
            i++; /* everything after it is a message */
            break;
        } else if (strcmp(arg, "--tls") == 0) {
            tls = true;
        } else if (strcmp(arg, "--to") == 0 && value) {
            target = argv[++i];
        } else if (strcmp(arg, "--ca") == 0 && value) {
            ca_file = argv[++i];
        } else if (strcmp(arg, "--host") == 0 && value) {
            host = argv[++i];
        } else {
            return usage(argv[0]);
        }
    }
    messages = argv + i;
    message_count = argc - i;
    if (target == NULL || message_count == 0 || ((ca_file || host) && !tls)) return usage(argv[0]);
    for (int m = 0; m < message_count; m++)
        if (messages[m][0] == '\0') return usage(argv[0]);

    char *ca = NULL;
    if (ca_file != NULL && (ca = read_file(ca_file)) == NULL) {
        fprintf(stderr, "cannot read %s\n", ca_file);
        return 1;
    }

    setvbuf(stdout, NULL, _IOLBF, 0);
    sem_init(&wake, 0, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    sack_tcp_options o;
    sack_tcp_options_init(&o);
    o.to_address = target; /* a to_address makes a client */
    o.connect_timeout_ms = 10000;
    o.ssl = tls;
    o.ca = ca;     /* NULL: the system's roots */
    o.host = host; /* NULL: the host part of to_address */
    o.on_connect = client_connect;
    o.on_ready = client_ready;
    o.on_message = client_message;
    o.on_error = client_error;
    o.on_close = client_close;
    sack_tcp *client = NULL;
    sack_tcp_result r = sack_tcp_open(&o, &client);
    free(ca); /* sack_tcp_open copied it */
    if (r != SACK_TCP_OK) {
        fprintf(stderr, "cannot connect to %s: %s\n", target, sack_tcp_last_error_message());
        return 1;
    }

    /* Wait for the close callback (or a signal; shutdown then closes). */
    while (sem_wait(&wake) != 0 && errno == EINTR) {
    }
    sack_tcp_free(client);
    r = sack_tcp_shutdown(); /* runs any close callback still due, joins threads */
    sem_destroy(&wake);

    bool ok = !failed && matched == message_count && r == SACK_TCP_OK;
    printf("%d of %d echoes matched\n", matched, message_count);
    if (sack_tcp_live_handles() != 0) {
        fprintf(stderr, "%zu handles not freed\n", sack_tcp_live_handles());
        ok = false;
    }
    return ok ? 0 : 1;
}

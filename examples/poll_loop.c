/* Callbacks on your own thread: the queued delivery mode in a poll() loop.
 *
 * Usage: sack_tcp_poll_loop [MESSAGE_COUNT]
 *
 * A single-threaded program (think GUI loop or interpreter) runs an echo
 * server and a client; sack_tcp's threads do the I/O, but every callback
 * runs here, inside sack_tcp_dispatch, when poll() says the event
 * descriptor is readable. The same loop could watch the program's own
 * descriptors too. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sack_tcp.h"

static int sent, echoed, wanted = 5, closed;

static void server_message(void *ud, sack_tcp *conn, const uint8_t *data, size_t len) {
    (void)ud;
    sack_tcp_send(conn, data, len);
}

static void send_one(sack_tcp *client) {
    char line[64];
    int n = snprintf(line, sizeof line, "message %d", ++sent);
    sack_tcp_send(client, line, (size_t)n);
}

static void client_ready(void *ud, sack_tcp *client) {
    (void)ud;
    send_one(client);
}

static void client_message(void *ud, sack_tcp *client, const uint8_t *data, size_t len) {
    (void)ud;
    printf("echo: %.*s\n", (int)len, (const char *)data);
    if (++echoed < wanted)
        send_one(client);
    else
        sack_tcp_close(client);
}

static void client_close(void *ud, sack_tcp *client) {
    (void)ud;
    (void)client;
    closed = 1;
}

int main(int argc, char **argv) {
    if (argc > 1) wanted = atoi(argv[1]);
    sack_tcp_runtime_options ro;
    sack_tcp_runtime_options_init(&ro);
    ro.delivery_mode = SACK_TCP_DELIVERY_QUEUED;
    if (sack_tcp_runtime_start(&ro) != SACK_TCP_OK) return 1;
    int event_fd = -1;
    sack_tcp_get_event_fd(&event_fd);

    sack_tcp_options o;
    sack_tcp_options_init(&o);
    o.address = "127.0.0.1";
    /* No connect callback: the listener owns its connections and frees
     * each after its close. */
    o.on_message = server_message;
    sack_tcp *server = NULL;
    if (sack_tcp_open(&o, &server) != SACK_TCP_OK) {
        fprintf(stderr, "listen: %s\n", sack_tcp_last_error_message());
        return 1;
    }
    uint16_t port = 0;
    sack_tcp_get_local_port(server, &port);
    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%u", port);

    sack_tcp_options_init(&o);
    o.to_address = target;
    o.on_ready = client_ready;
    o.on_message = client_message;
    o.on_close = client_close;
    sack_tcp *client = NULL;
    if (sack_tcp_open(&o, &client) != SACK_TCP_OK) return 1;

    /* The host's loop: wait, then run whatever callbacks are due. */
    while (!closed) {
        struct pollfd p = {.fd = event_fd, .events = POLLIN};
        if (poll(&p, 1, 10000) == 0) {
            fprintf(stderr, "no events for 10 s\n");
            return 1;
        }
        sack_tcp_dispatch(SIZE_MAX, NULL);
    }
    sack_tcp_free(client);
    sack_tcp_close(server);
    sack_tcp_free(server);
    sack_tcp_shutdown(); /* runs the remaining close callbacks here */
    printf("%d echoes, %zu handles left\n", echoed, sack_tcp_live_handles());
    return echoed == wanted && sack_tcp_live_handles() == 0 ? 0 : 1;
}

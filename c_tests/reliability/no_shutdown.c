/* A process that never calls sack_tcp_shutdown must still exit cleanly.
 *
 *   no_shutdown idle   a listener and a client exchange a message; main
 *                      returns with both (and the accepted connection)
 *                      still open and their handles never freed
 *   no_shutdown busy   as idle, but 8 connections ping-pong as fast as
 *                      they can while main returns, so callbacks are
 *                      running on the worker threads during exit()
 *
 * Success is exit status 0: no crash, no hang (ctest's TIMEOUT bounds it;
 * a watchdog alarm makes a hang before the return visible as status 3). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sack_tcp.h"

#define PAIRS 8

/* Under LeakSanitizer (the suite's ASan runs) the handles and the runtime
 * this program leaves behind on purpose would be reported as leaks: what
 * is tested here is the exit itself. The hook is inert without LSan. */
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void) { return 1; }

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int echoes;
static atomic_long bounces;
static bool busy;
static int listener_tag, client_tag, conn_tag;

static void die(const char *what) {
    fprintf(stderr, "FAIL no_shutdown: %s\n", what);
    _exit(1);
}

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "FAIL no_shutdown: stuck before main returned\n";
    if (write(2, msg, sizeof msg - 1) < 0) _exit(3);
    _exit(3);
}

static void on_connect(void *ud, sack_tcp *s, sack_tcp_result status) {
    if (ud == &listener_tag) {
        if (sack_tcp_set_user_data(s, &conn_tag) != SACK_TCP_OK) die("set_user_data");
        /* The accepted handle is deliberately never freed. */
    } else if (status != SACK_TCP_OK) {
        die("connect failed");
    }
}

static void on_ready(void *ud, sack_tcp *s) {
    if (ud == &client_tag && sack_tcp_send(s, "ping", 4) != SACK_TCP_OK) die("send");
}

static void on_message(void *ud, sack_tcp *s, const uint8_t *data, size_t len) {
    if (ud == &conn_tag || busy) {
        /* Echo (and in busy mode bounce forever); after exit starts a
         * send may fail, which is fine. */
        sack_tcp_send(s, data, len);
        atomic_fetch_add(&bounces, 1);
    }
    if (ud == &client_tag) {
        pthread_mutex_lock(&mu);
        echoes++;
        pthread_cond_broadcast(&cv);
        pthread_mutex_unlock(&mu);
    }
}

int main(int argc, char **argv) {
    if (argc != 2 || (strcmp(argv[1], "idle") != 0 && strcmp(argv[1], "busy") != 0)) {
        fprintf(stderr, "usage: %s idle|busy\n", argv[0]);
        return 2;
    }
    busy = strcmp(argv[1], "busy") == 0;
    signal(SIGALRM, on_alarm);
    alarm(20);

    sack_tcp_options o;
    if (sack_tcp_options_init(&o) != SACK_TCP_OK) die("options_init");
    o.address = "127.0.0.1";
    o.on_connect = on_connect;
    o.on_ready = on_ready;
    o.on_message = on_message;
    o.user_data = &listener_tag;
    sack_tcp *listener = NULL;
    if (sack_tcp_open(&o, &listener) != SACK_TCP_OK) die("listen");
    uint16_t port = 0;
    if (sack_tcp_get_local_port(listener, &port) != SACK_TCP_OK) die("port");
    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%u", (unsigned)port);
    o.address = NULL;
    o.to_address = target;
    o.user_data = &client_tag;
    int clients = busy ? PAIRS : 1;
    for (int i = 0; i < clients; i++) {
        sack_tcp *c = NULL; /* never freed, never closed */
        if (sack_tcp_open(&o, &c) != SACK_TCP_OK) die("connect");
    }

    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 10;
    int want = busy ? PAIRS * 100 : 1;
    pthread_mutex_lock(&mu);
    while (echoes < want)
        if (pthread_cond_timedwait(&cv, &mu, &dl) == ETIMEDOUT) die("no echo within 10 s");
    pthread_mutex_unlock(&mu);
    alarm(0);
    printf("no_shutdown %s: %d echoes, %ld bounces so far; returning from main without "
           "sack_tcp_shutdown, %zu live handles\n",
           argv[1], want, atomic_load(&bounces), sack_tcp_live_handles());
    fflush(stdout);
    return 0;
}

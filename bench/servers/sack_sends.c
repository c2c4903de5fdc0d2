/* Per-call overhead of sack_tcp_send, against write(2) on a raw socket in
 * the same program as the baseline. Both connect to a sink (epoll_echo
 * --sink) on 127.0.0.1:PORT, with TCP_NODELAY on as sack_tcp's default.
 *
 * Usage: sack_sends single|threads --port P [--count N] [--threads T]
 *                   [--size B] [--sack-first]
 *
 *   single   N sends of B bytes (16) from one thread.
 *   threads  T threads (4) each sending N/T messages on one sack_tcp
 *            client; the baseline is T threads write()ing to one raw socket
 *            guarded by a mutex (write on a stream socket may be partial, so
 *            sharing it needs a lock).
 *
 * Prints one line: base_ns_per_call, sack_ns_per_call (the calls alone)
 * and sack_ns_per_msg_drained (until sack_tcp_get_queued_bytes is 0, i.e.
 * everything handed to the kernel), plus the calls per second of each. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "sack_tcp.h"

static int port;
static long count = 1000000;
static int nthreads = 4;
static size_t size = 16;
static unsigned char msg[4096];

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void fail(const char *what) {
    fprintf(stderr, "sack_sends: %s: %s (%s)\n", what, strerror(errno),
            sack_tcp_last_error_message());
    printf("error=%s\n", what);
    exit(1);
}

/* ---------- baseline: write(2) on a blocking raw socket ---------- */

static int raw_fd;
static pthread_mutex_t raw_lock = PTHREAD_MUTEX_INITIALIZER;

static void raw_connect(void) {
    raw_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(raw_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(raw_fd, (struct sockaddr *)&a, sizeof a) != 0) fail("raw connect");
}

static void raw_write_all(const unsigned char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(raw_fd, p, n);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
        } else if (w < 0 && errno != EINTR) {
            fail("write");
        }
    }
}

static void *raw_thread(void *arg) {
    long n = (long)(intptr_t)arg;
    for (long i = 0; i < n; i++) {
        pthread_mutex_lock(&raw_lock);
        raw_write_all(msg, size);
        pthread_mutex_unlock(&raw_lock);
    }
    return NULL;
}

static double run_raw(bool threaded) {
    raw_connect();
    uint64_t t0 = now_ns();
    if (!threaded) {
        for (long i = 0; i < count; i++) raw_write_all(msg, size);
    } else {
        pthread_t th[64];
        for (int i = 0; i < nthreads; i++)
            pthread_create(&th[i], NULL, raw_thread, (void *)(intptr_t)(count / nthreads));
        for (int i = 0; i < nthreads; i++) pthread_join(th[i], NULL);
    }
    uint64_t t1 = now_ns();
    close(raw_fd);
    return (double)(t1 - t0) / (double)count;
}

/* ---------- sack_tcp_send ---------- */

static sem_t connected, closed;
static atomic_long send_errors;
static sack_tcp *client;

static void on_connect(void *ud, sack_tcp *s, sack_tcp_result status) {
    (void)ud;
    (void)s;
    if (status != SACK_TCP_OK) {
        fprintf(stderr, "connect failed: %s\n", sack_tcp_error_name(status));
        exit(1);
    }
    sem_post(&connected);
}

static void on_close(void *ud, sack_tcp *s) {
    (void)ud;
    (void)s;
    sem_post(&closed);
}

static void sack_send_n(long n) {
    for (long i = 0; i < n; i++) {
        sack_tcp_result r = sack_tcp_send(client, msg, size);
        if (r != SACK_TCP_OK) atomic_fetch_add(&send_errors, 1);
    }
}

static void *sack_thread(void *arg) {
    sack_send_n((long)(intptr_t)arg);
    return NULL;
}

static void run_sack(bool threaded, double *calls_ns, double *drained_ns) {
    sem_init(&connected, 0, 0);
    sem_init(&closed, 0, 0);
    sack_tcp_options o;
    sack_tcp_options_init(&o);
    o.to_address = "127.0.0.1";
    o.to_port = port;
    o.send_queue_limit = (size_t)1 << 30; /* never refuse: this measures the calls */
    o.on_connect = on_connect;
    o.on_close = on_close;
    if (sack_tcp_open(&o, &client) != SACK_TCP_OK) fail("sack_tcp_open");
    sem_wait(&connected);
    uint64_t t0 = now_ns();
    if (!threaded) {
        sack_send_n(count);
    } else {
        pthread_t th[64];
        for (int i = 0; i < nthreads; i++)
            pthread_create(&th[i], NULL, sack_thread, (void *)(intptr_t)(count / nthreads));
        for (int i = 0; i < nthreads; i++) pthread_join(th[i], NULL);
    }
    uint64_t t1 = now_ns();
    size_t queued = 1;
    uint64_t give_up = t1 + 60ull * 1000000000ull;
    while (sack_tcp_get_queued_bytes(client, &queued) == SACK_TCP_OK && queued > 0) {
        if (now_ns() > give_up) fail("send queue did not drain");
        usleep(50);
    }
    uint64_t t2 = now_ns();
    sack_tcp_close(client);
    sem_wait(&closed);
    sack_tcp_free(client);
    *calls_ns = (double)(t1 - t0) / (double)count;
    *drained_ns = (double)(t2 - t0) / (double)count;
}

int main(int argc, char **argv) {
    if (argc < 2) goto usage;
    bool threaded;
    if (strcmp(argv[1], "single") == 0) threaded = false;
    else if (strcmp(argv[1], "threads") == 0) threaded = true;
    else goto usage;
    bool sack_first = false;
    for (int i = 2; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--sack-first") == 0) sack_first = true;
        else if (strcmp(argv[i], "--port") == 0 && v) port = atoi(v), i++;
        else if (strcmp(argv[i], "--count") == 0 && v) count = atol(v), i++;
        else if (strcmp(argv[i], "--threads") == 0 && v) nthreads = atoi(v), i++;
        else if (strcmp(argv[i], "--size") == 0 && v) size = (size_t)atol(v), i++;
        else goto usage;
    }
    if (port <= 0 || count < 1 || nthreads < 1 || nthreads > 64 || size < 1 || size > sizeof msg)
        goto usage;
    if (!threaded) nthreads = 1;
    count -= count % nthreads;
    bench_process_limits();
    for (size_t i = 0; i < sizeof msg; i++) msg[i] = (unsigned char)('a' + i % 26);
    setvbuf(stdout, NULL, _IOLBF, 0);

    double base = 0, calls = 0, drained = 0;
    if (sack_first) {
        run_sack(threaded, &calls, &drained);
        base = run_raw(threaded);
    } else {
        base = run_raw(threaded);
        run_sack(threaded, &calls, &drained);
    }
    sack_tcp_shutdown();
    printf("base_ns_per_call=%.1f sack_ns_per_call=%.1f sack_ns_per_msg_drained=%.1f "
           "base_calls_per_s=%.0f sack_calls_per_s=%.0f sack_drained_msgs_per_s=%.0f "
           "send_errors=%ld threads=%d count=%ld\n",
           base, calls, drained, 1e9 / base, 1e9 / calls, 1e9 / drained,
           atomic_load(&send_errors), nthreads, count);
    return atomic_load(&send_errors) == 0 ? 0 : 1;
usage:
    fprintf(stderr, "usage: %s single|threads --port P [--count N] [--threads T] [--size B] "
                    "[--sack-first]\n",
            argv[0]);
    return 2;
}

/* What a borrowed send saves: large messages sent with sack_tcp_send (the
 * library copies each into its queue) against sack_tcp_send_borrowed (the
 * queue points at the caller's buffer), plain and TLS, over 127.0.0.1 to a
 * reader in another process that drains as fast as it can.
 *
 * Usage: sack_borrowed [--certs DIR] [--runs N] [--mib M]
 *   --certs DIR  localhost.pem and localhost.key from c_tests/make_certs.sh
 *                (TLS rows are left out without it)
 *   --runs N     runs per cell, the median is reported (3)
 *   --mib M      MiB sent per run (1024 plain; TLS sends half)
 *
 * Each measurement is a fresh process (this program re-run with --one), so
 * its peak RSS is its own: the sender is a sack_tcp client sending
 * `--mib` MiB in messages of 1 MiB or 64 MiB, never more than four
 * messages' worth outstanding (copied: send_queue_limit of four messages,
 * waiting for drain on QUEUE_FULL; borrowed: four sends in flight, each
 * waiting for its completion before the buffer is lent again), then a
 * graceful close, which ends when the reader has read everything and
 * closed. The reader is forked before the sender starts its runtime: a raw
 * recv() loop for plain, a sack_tcp TLS server that drops what it reads
 * for TLS. Reported per run: MB/s (wall time from the first send to the
 * close callback), the sender process's CPU time per MB sent (getrusage:
 * the host thread and the library's runtime threads), and its peak RSS. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../servers/common.h"
#include "sack_tcp.h"

enum { IN_FLIGHT = 4 };

static void die(const char *what) {
    fprintf(stderr, "sack_borrowed: %s: %s (%s)\n", what, strerror(errno),
            sack_tcp_last_error_message());
    exit(1);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* ---------- the reader (child process) ---------- */

static void plain_reader(int lfd) {
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0) die("accept");
    static char buf[1 << 18];
    for (;;) {
        ssize_t k = recv(fd, buf, sizeof buf, 0);
        if (k == 0) break;
        if (k < 0 && errno != EINTR) die("recv");
    }
    close(fd);
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int closes, drains, completions;
static bool connected;

static void on_close(void *ud, sack_tcp *s) {
    (void)ud;
    (void)s;
    pthread_mutex_lock(&mu);
    closes++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void on_accept(void *ud, sack_tcp *s, sack_tcp_result st) {
    (void)ud;
    (void)st;
    sack_tcp_on_close(s, on_close);
}

static void ignore_message(void *ud, sack_tcp *s, const uint8_t *d, size_t n) {
    (void)ud, (void)s, (void)d, (void)n;
}

/* A TLS server in this process; exits once its one connection closed. */
static void tls_reader(const char *certs, int port_pipe) {
    char path[4096];
    snprintf(path, sizeof path, "%s/localhost.pem", certs);
    char *cert = bench_read_file(path);
    snprintf(path, sizeof path, "%s/localhost.key", certs);
    char *key = bench_read_file(path);
    sack_tcp_options o;
    sack_tcp_options_init(&o);
    o.address = "127.0.0.1";
    o.cert = cert;
    o.key = key;
    o.read_buffer_size = 1 << 16;
    o.on_connect = on_accept;
    o.on_message = ignore_message;
    sack_tcp *l = NULL;
    if (sack_tcp_open(&o, &l) != SACK_TCP_OK) die("tls listener");
    uint16_t port = 0;
    if (sack_tcp_get_local_port(l, &port) != SACK_TCP_OK) die("port");
    if (write(port_pipe, &port, sizeof port) != sizeof port) die("pipe");
    pthread_mutex_lock(&mu);
    while (closes == 0) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    sack_tcp_shutdown();
    _exit(0);
}

static pid_t start_reader(bool tls, const char *certs, uint16_t *port) {
    int p[2];
    if (pipe(p) != 0) die("pipe");
    int lfd = -1;
    if (!tls) {
        lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof a;
        if (bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, 4) != 0 ||
            getsockname(lfd, (struct sockaddr *)&a, &len) != 0)
            die("listen");
        *port = ntohs(a.sin_port);
    }
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (tls) tls_reader(certs, p[1]);
        plain_reader(lfd);
        _exit(0);
    }
    if (tls && read(p[0], port, sizeof *port) != sizeof *port) die("reader port");
    close(p[0]);
    close(p[1]);
    if (lfd >= 0) close(lfd);
    return pid;
}

/* ---------- the sender (this process) ---------- */

static void on_connect(void *ud, sack_tcp *s, sack_tcp_result st) {
    (void)ud, (void)s;
    if (st != SACK_TCP_OK) {
        fprintf(stderr, "connect: %s\n", sack_tcp_strerror(st));
        exit(1);
    }
}

static void on_ready(void *ud, sack_tcp *s) {
    (void)ud, (void)s;
    pthread_mutex_lock(&mu);
    connected = true;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void on_drain(void *ud, sack_tcp *s) {
    (void)ud, (void)s;
    pthread_mutex_lock(&mu);
    drains++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void on_done(void *ud, sack_tcp *s, sack_tcp_result status) {
    (void)ud, (void)s;
    if (status != SACK_TCP_OK) {
        fprintf(stderr, "completion: %s\n", sack_tcp_strerror(status));
        exit(1);
    }
    pthread_mutex_lock(&mu);
    completions++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

/* Waits until `*counter` moves past `seen`. */
static void wait_past(int *counter, int seen) {
    pthread_mutex_lock(&mu);
    while (*counter == seen) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
}

static int run_one(bool tls, bool borrowed, size_t msg, size_t total, const char *certs) {
    uint16_t port = 0;
    pid_t reader = start_reader(tls, certs, &port);
    unsigned char *buf = malloc(msg);
    if (!buf) die("malloc");
    for (size_t i = 0; i < msg; i++) buf[i] = (unsigned char)(i * 31 + 7);
    char *ca = NULL;
    if (tls) {
        char path[4096];
        snprintf(path, sizeof path, "%s/ca.pem", certs);
        ca = bench_read_file(path);
    }
    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%u", (unsigned)port);
    sack_tcp_options o;
    sack_tcp_options_init(&o);
    o.to_address = target;
    o.ssl = tls;
    o.ca = ca;
    o.send_queue_limit = IN_FLIGHT * msg;
    o.send_queue_low_mark = msg;
    o.on_connect = on_connect;
    o.on_ready = on_ready;
    o.on_drain = on_drain;
    o.on_close = on_close;
    sack_tcp *c = NULL;
    if (sack_tcp_open(&o, &c) != SACK_TCP_OK) die("open");
    pthread_mutex_lock(&mu);
    while (!connected) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);

    double t0 = now_s(), c0 = cpu_s();
    size_t sent = 0;
    int lent = 0;
    while (sent < total) {
        pthread_mutex_lock(&mu);
        int d = drains, done = completions;
        pthread_mutex_unlock(&mu);
        if (borrowed && lent - done >= IN_FLIGHT) {
            wait_past(&completions, done);
            continue;
        }
        sack_tcp_result r = borrowed ? sack_tcp_send_borrowed(c, buf, msg, on_done, NULL)
                                     : sack_tcp_send(c, buf, msg);
        if (r == SACK_TCP_OK) {
            sent += msg;
            lent += borrowed;
        } else if (r == SACK_TCP_ERR_QUEUE_FULL) {
            wait_past(&drains, d);
        } else {
            die("send");
        }
    }
    if (sack_tcp_close(c) != SACK_TCP_OK) die("close");
    pthread_mutex_lock(&mu);
    while (closes == 0 || completions < lent) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    double wall = now_s() - t0, cpu = cpu_s() - c0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double mb = (double)total / 1e6;
    printf("%.1f %.1f %ld\n", mb / wall, cpu * 1e6 / mb, ru.ru_maxrss);
    sack_tcp_free(c);
    int status = 0;
    waitpid(reader, &status, 0);
    return 0;
}

/* ---------- the driver ---------- */

typedef struct cell {
    double mbps, cpu_us_per_mb;
    long rss_kib;
} cell;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static cell measure(const char *self, bool tls, bool borrowed, size_t msg, size_t total,
                    const char *certs, int runs) {
    double mbps[16], cpu[16], rss[16];
    for (int i = 0; i < runs; i++) {
        char cmd[8192];
        snprintf(cmd, sizeof cmd, "%s --one %s %s %zu %zu %s", self, tls ? "tls" : "plain",
                 borrowed ? "borrowed" : "copy", msg, total, certs ? certs : "-");
        FILE *p = popen(cmd, "r");
        if (!p) die("popen");
        if (fscanf(p, "%lf %lf %lf", &mbps[i], &cpu[i], &rss[i]) != 3) die("a run failed");
        if (pclose(p) != 0) die("a run failed");
    }
    qsort(mbps, (size_t)runs, sizeof(double), cmp_double);
    qsort(cpu, (size_t)runs, sizeof(double), cmp_double);
    qsort(rss, (size_t)runs, sizeof(double), cmp_double);
    cell c = {mbps[runs / 2], cpu[runs / 2], (long)rss[runs / 2]};
    return c;
}

int main(int argc, char **argv) {
    if (argc == 7 && strcmp(argv[1], "--one") == 0) {
        bool tls = strcmp(argv[2], "tls") == 0;
        bool borrowed = strcmp(argv[3], "borrowed") == 0;
        return run_one(tls, borrowed, strtoull(argv[4], NULL, 10), strtoull(argv[5], NULL, 10),
                       strcmp(argv[6], "-") ? argv[6] : NULL);
    }
    const char *certs = NULL;
    int runs = 3;
    size_t mib = 1024;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--certs")) certs = argv[i + 1];
        else if (!strcmp(argv[i], "--runs")) runs = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--mib")) mib = strtoull(argv[i + 1], NULL, 10);
    }
    if (runs < 1 || runs > 16) runs = 3;
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) die("readlink");
    self[n] = 0;
    printf("| transport | message | send | MB/s | sender CPU µs/MB | peak RSS MiB | MB/s ratio | CPU ratio | RSS ratio |\n");
    printf("|---|---|---|---:|---:|---:|---:|---:|---:|\n");
    for (int t = 0; t < 2; t++) {
        if (t == 1 && !certs) break;
        size_t total = (t ? mib / 2 : mib) << 20;
        size_t sizes[2] = {1u << 20, 64u << 20};
        for (int s = 0; s < 2; s++) {
            cell copy = measure(self, t, false, sizes[s], total, certs, runs);
            cell lend = measure(self, t, true, sizes[s], total, certs, runs);
            const char *tn = t ? "TLS" : "plain";
            const char *sn = s ? "64 MiB" : "1 MiB";
            printf("| %s | %s | copy (`sack_tcp_send`) | %.0f | %.0f | %.0f | 1.00 | 1.00 | 1.00 |\n",
                   tn, sn, copy.mbps, copy.cpu_us_per_mb, copy.rss_kib / 1024.0);
            printf("| %s | %s | borrowed | %.0f | %.0f | %.0f | %.2f | %.2f | %.2f |\n", tn, sn,
                   lend.mbps, lend.cpu_us_per_mb, lend.rss_kib / 1024.0, lend.mbps / copy.mbps,
                   lend.cpu_us_per_mb / copy.cpu_us_per_mb,
                   (double)lend.rss_kib / (double)copy.rss_kib);
            fflush(stdout);
        }
    }
    return 0;
}

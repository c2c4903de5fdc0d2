/* The benchmark's load client: one epoll loop on one thread, plain TCP or
 * TLS (OpenSSL), driving every server in exactly the same way. It does not
 * use sack_tcp.
 *
 * Usage: load MODE --port P [options]
 *
 * Modes (add --tls for the TLS variant of any of them):
 *   pingpong   one connection, --size bytes (64) back and forth for
 *              --duration seconds: round trips/s, p50 and p99 latency (us).
 *   bulk       --conns N connections, each keeping --window bytes (256 KiB)
 *              in flight in --chunk (16 KiB) writes, the echo checked byte
 *              for byte: MB/s echoed, server CPU ms per MB (--pid).
 *   connrate   --conns N (8) slots, each repeatedly: connect (and TLS
 *              handshake), echo one --size message, close: connections/s.
 *              With --tls these are full handshakes (no tickets, no session
 *              cache), i.e. TLS handshakes/s.
 *   idle       open --count connections (each echoes one byte once, which
 *              proves the server set it up), let them sit, then read the
 *              server's VmRSS (--pid): bytes of server RSS per connection.
 *
 * Prints one line of key=value pairs. Every mode has a hard deadline
 * (alarm) so a stuck server cannot hang the run. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

/* ---------- options ---------- */

static int opt_port;
static bool opt_tls;
static double opt_duration = 2.0;
static int opt_conns = 1;
static int opt_count = 10000;
static size_t opt_size = 64;
static size_t opt_window = 256 * 1024;
static size_t opt_chunk = 16 * 1024;
static int opt_pid;
static double opt_settle = 1.0;

static SSL_CTX *ctx;

/* ---------- small helpers ---------- */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what) {
    fprintf(stderr, "load: %s: %s\n", what, strerror(errno));
    printf("error=%s\n", what);
    exit(1);
}

/* utime + stime of a whole process (all threads), in seconds. */
static double proc_cpu_s(int pid) {
    if (pid <= 0) return 0;
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p) return 0;
    /* fields after ')': 3 state, 4 ppid, ... 14 utime, 15 stime */
    unsigned long long ut = 0, st = 0;
    int field = 2;
    for (char *tok = strtok(p + 1, " "); tok; tok = strtok(NULL, " ")) {
        field++;
        if (field == 14) ut = strtoull(tok, NULL, 10);
        if (field == 15) {
            st = strtoull(tok, NULL, 10);
            break;
        }
    }
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* VmRSS of a process in KiB. */
static long proc_rss_kb(int pid) {
    if (pid <= 0) return 0;
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    long kb = 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) kb = atol(line + 6);
    fclose(f);
    return kb;
}

/* This process's own CPU time (user + system), in seconds. */
static double self_cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void raise_nofile(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* The byte at stream offset k is k % 251, so echoes can be checked. */
#define PATTERN_PERIOD 251
static unsigned char *pattern; /* PATTERN_PERIOD + largest chunk bytes */

static void make_pattern(size_t max_chunk) {
    pattern = malloc(PATTERN_PERIOD + max_chunk);
    for (size_t i = 0; i < PATTERN_PERIOD + max_chunk; i++) pattern[i] = (unsigned char)(i % PATTERN_PERIOD);
}

/* ---------- connections: plain or TLS behind one interface ---------- */

enum { C_FREE, C_CONNECTING, C_HANDSHAKE, C_OPEN };

typedef struct conn {
    int fd;
    int state;
    SSL *ssl;
    uint32_t events; /* what epoll watches now */
    bool want_write; /* the last I/O call asked for writability */
    uint64_t sent, recvd;
    uint64_t t0;
    int slot;
} conn;

static int ep;

static void watch(conn *c, uint32_t events) {
    if (c->events == events) return;
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) != 0) die("epoll_ctl MOD");
    c->events = events;
}

/* Starts a non-blocking connect to 127.0.0.1:port. False if the OS refused
 * at once (e.g. out of descriptors or ports). */
static bool conn_start(conn *c) {
    int slot = c->slot;
    memset(c, 0, sizeof *c);
    c->slot = slot;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) return false;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt_port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int r = connect(c->fd, (struct sockaddr *)&a, sizeof a);
    if (r != 0 && errno != EINPROGRESS) {
        close(c->fd);
        c->fd = -1;
        return false;
    }
    c->state = C_CONNECTING;
    c->events = EPOLLOUT;
    c->t0 = now_ns();
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) die("epoll_ctl ADD");
    return true;
}

/* Closes; with reset, by RST (no TIME_WAIT, for mass teardown). */
static void conn_close(conn *c, bool reset) {
    if (c->state == C_FREE) return;
    if (c->ssl) {
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    if (reset) {
        struct linger l = {1, 0};
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    close(c->fd); /* also leaves the epoll set */
    c->fd = -1;
    c->state = C_FREE;
}

/* Drives connect and handshake. 1: open now; 0: still going; -1: failed. */
static int conn_progress(conn *c) {
    if (c->state == C_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err == EINPROGRESS) return 0;
        if (err != 0) {
            errno = err;
            return -1;
        }
        if (!opt_tls) {
            c->state = C_OPEN;
            watch(c, EPOLLIN);
            return 1;
        }
        c->ssl = SSL_new(ctx);
        SSL_set_fd(c->ssl, c->fd);
        SSL_set_tlsext_host_name(c->ssl, "localhost");
        c->state = C_HANDSHAKE;
    }
    if (c->state == C_HANDSHAKE) {
        int r = SSL_connect(c->ssl);
        if (r == 1) {
            c->state = C_OPEN;
            watch(c, EPOLLIN);
            return 1;
        }
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ) {
            watch(c, EPOLLIN);
            return 0;
        }
        if (e == SSL_ERROR_WANT_WRITE) {
            watch(c, EPOLLIN | EPOLLOUT);
            return 0;
        }
        ERR_print_errors_fp(stderr);
        return -1;
    }
    return 1;
}

static void report_ssl_error(const char *call, int e) {
    fprintf(stderr, "load: %s failed: SSL error %d, errno %d (%s)\n", call, e, errno,
            strerror(errno));
    ERR_print_errors_fp(stderr);
}

/* >0 bytes, 0 EOF, -1 would block (c->want_write says on what), -2 error. */
static ssize_t conn_read(conn *c, void *buf, size_t n) {
    c->want_write = false;
    if (!c->ssl) {
        ssize_t r = read(c->fd, buf, n);
        if (r >= 0) return r;
        return (errno == EAGAIN || errno == EINTR) ? -1 : -2;
    }
    int r = SSL_read(c->ssl, buf, (int)n);
    if (r > 0) return r;
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ) return -1;
    if (e == SSL_ERROR_WANT_WRITE) {
        c->want_write = true;
        return -1;
    }
    if (e == SSL_ERROR_ZERO_RETURN) return 0;
    report_ssl_error("SSL_read", e);
    return -2;
}

static ssize_t conn_write(conn *c, const void *buf, size_t n) {
    c->want_write = false;
    if (!c->ssl) {
        ssize_t r = write(c->fd, buf, n);
        if (r >= 0) return r;
        if (errno == EAGAIN || errno == EINTR) {
            c->want_write = true;
            return -1;
        }
        return -2;
    }
    int r = SSL_write(c->ssl, buf, (int)n);
    if (r > 0) return r;
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_WRITE) {
        c->want_write = true;
        return -1;
    }
    if (e == SSL_ERROR_WANT_READ) return -1;
    report_ssl_error("SSL_write", e);
    return -2;
}

/* With SSL_VERIFY_NONE OpenSSL still builds and checks the server's chain
 * (X509_verify_cert) and only ignores the verdict; this skips that work.
 * Nothing on the wire changes. */
static int skip_chain_check(X509_STORE_CTX *store, void *arg) {
    (void)store;
    (void)arg;
    return 1;
}

static void setup_tls(void) {
    ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) die("SSL_CTX_new");
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_cert_verify_callback(ctx, skip_chain_check, NULL);
    /* Full handshakes only: no tickets, no client session cache. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* Read whatever the socket holds (up to 64 KiB) per read(2) instead of
     * one record header, then its body: fewer syscalls on the client, the
     * same bytes for the server. */
    SSL_CTX_set_read_ahead(ctx, 1);
    SSL_CTX_set_default_read_buffer_len(ctx, 65536);
}

/* Connects one connection synchronously (for pingpong and bulk setup). */
static void establish_all(conn *cs, int n) {
    int open = 0;
    for (int i = 0; i < n; i++) {
        cs[i].slot = i;
        if (!conn_start(&cs[i])) die("connect");
    }
    struct epoll_event evs[256];
    double deadline = now_s() + 10;
    while (open < n) {
        int k = epoll_wait(ep, evs, 256, 1000);
        if (k < 0 && errno != EINTR) die("epoll_wait");
        for (int i = 0; i < k; i++) {
            conn *c = evs[i].data.ptr;
            if (c->state == C_OPEN) continue;
            int r = conn_progress(c);
            if (r < 0) die("connect/handshake");
            if (r > 0) open++;
        }
        if (now_s() > deadline) {
            errno = ETIMEDOUT;
            die("establishing connections");
        }
    }
}

static const char *tls_info(conn *c) {
    static char info[160];
    if (!c->ssl) return "plain";
    snprintf(info, sizeof info, "%s/%s", SSL_get_version(c->ssl), SSL_get_cipher_name(c->ssl));
    return info;
}

/* ---------- ping-pong ---------- */

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void mode_pingpong(void) {
    conn c;
    establish_all(&c, 1);
    unsigned char *msg = pattern, in[65536];
    size_t cap = 1u << 22, count = 0;
    uint64_t *samples = malloc(cap * sizeof *samples);
    double warm = opt_duration * 0.1 > 0.3 ? 0.3 : opt_duration * 0.1;
    double t_start = now_s(), t_measure = t_start + warm, t_end = t_measure + opt_duration;
    double cpu0 = 0, t0 = 0, self0 = 0;
    bool measuring = false;
    struct epoll_event ev;
    for (;;) {
        double t = now_s();
        if (!measuring && t >= t_measure) {
            measuring = true;
            cpu0 = proc_cpu_s(opt_pid);
            self0 = self_cpu_s();
            t0 = t;
        }
        if (t >= t_end) break;
        uint64_t s = now_ns();
        size_t off = 0;
        while (off < opt_size) {
            ssize_t w = conn_write(&c, msg + off, opt_size - off);
            if (w > 0) {
                off += (size_t)w;
            } else if (w == -1) {
                watch(&c, EPOLLIN | EPOLLOUT);
                if (epoll_wait(ep, &ev, 1, 5000) <= 0) die("ping-pong write stalled");
            } else {
                die("ping-pong write");
            }
        }
        watch(&c, EPOLLIN);
        size_t got = 0;
        while (got < opt_size) {
            if (epoll_wait(ep, &ev, 1, 5000) <= 0) {
                errno = ETIMEDOUT;
                die("ping-pong reply");
            }
            for (;;) {
                ssize_t r = conn_read(&c, in + got, sizeof in - got);
                if (r > 0) {
                    got += (size_t)r;
                    if (got >= opt_size) break;
                } else if (r == -1) {
                    break;
                } else {
                    die("ping-pong read");
                }
            }
        }
        if (got != opt_size || memcmp(in, msg, opt_size) != 0) {
            errno = EPROTO;
            die("ping-pong echo mismatch");
        }
        if (measuring && count < cap) samples[count++] = now_ns() - s;
    }
    double elapsed = now_s() - t0;
    double cpu = proc_cpu_s(opt_pid) - cpu0;
    double self = self_cpu_s() - self0;
    qsort(samples, count, sizeof *samples, cmp_u64);
    double p50 = count ? samples[count / 2] / 1000.0 : 0;
    double p99 = count ? samples[(size_t)(count * 0.99)] / 1000.0 : 0;
    printf("rtt_per_s=%.1f p50_us=%.2f p99_us=%.2f round_trips=%zu server_cpu_us_per_rtt=%.2f "
           "client_cpu_util=%.3f tls=%s\n",
           count / elapsed, p50, p99, count, count ? cpu * 1e6 / count : 0, self / elapsed,
           tls_info(&c));
    conn_close(&c, false);
}

/* ---------- bulk ---------- */

/* Fills the connection's window; turns EPOLLOUT on only while blocked. */
static void bulk_fill(conn *c) {
    while (c->sent - c->recvd < opt_window) {
        size_t room = opt_window - (size_t)(c->sent - c->recvd);
        size_t n = room < opt_chunk ? room : opt_chunk;
        ssize_t w = conn_write(c, pattern + c->sent % PATTERN_PERIOD, n);
        if (w > 0) {
            c->sent += (uint64_t)w;
        } else if (w == -1) {
            break;
        } else {
            die("bulk write");
        }
    }
    watch(c, c->want_write ? EPOLLIN | EPOLLOUT : EPOLLIN);
}

static void mode_bulk(void) {
    int n = opt_conns;
    conn *cs = calloc((size_t)n, sizeof *cs);
    establish_all(cs, n);
    const char *info = tls_info(&cs[0]);
    static unsigned char in[65536];
    for (int i = 0; i < n; i++) bulk_fill(&cs[i]);
    double warm = opt_duration * 0.15 > 0.5 ? 0.5 : opt_duration * 0.15;
    double t_measure = now_s() + warm, t_end = t_measure + opt_duration;
    double cpu0 = 0, t0 = 0, self0 = 0;
    uint64_t bytes0 = 0, total = 0;
    bool measuring = false;
    struct epoll_event evs[256];
    for (;;) {
        double t = now_s();
        if (!measuring && t >= t_measure) {
            measuring = true;
            cpu0 = proc_cpu_s(opt_pid);
            self0 = self_cpu_s();
            t0 = t;
            bytes0 = total;
        }
        if (t >= t_end) break;
        int k = epoll_wait(ep, evs, 256, 5000);
        if (k == 0) {
            errno = ETIMEDOUT;
            die("bulk stalled");
        }
        if (k < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int i = 0; i < k; i++) {
            conn *c = evs[i].data.ptr;
            for (;;) {
                ssize_t r = conn_read(c, in, sizeof in);
                if (r > 0) {
                    if (memcmp(in, pattern + c->recvd % PATTERN_PERIOD, (size_t)r) != 0) {
                        errno = EPROTO;
                        die("bulk echo mismatch");
                    }
                    c->recvd += (uint64_t)r;
                    total += (uint64_t)r;
                    if ((size_t)r < sizeof in && !c->ssl) break;
                } else if (r == -1) {
                    break;
                } else {
                    errno = r == 0 ? ECONNRESET : errno;
                    die("bulk read");
                }
            }
            bulk_fill(c);
        }
    }
    double elapsed = now_s() - t0;
    double cpu = proc_cpu_s(opt_pid) - cpu0;
    double self = self_cpu_s() - self0;
    double mb = (double)(total - bytes0) / 1e6;
    printf("mb_per_s=%.2f server_cpu_ms_per_mb=%.4f server_cpu_util=%.3f client_cpu_util=%.3f "
           "conns=%d tls=%s\n",
           mb / elapsed, mb > 0 ? cpu * 1e3 / mb : 0, cpu / elapsed, self / elapsed, n, info);
    for (int i = 0; i < n; i++) conn_close(&cs[i], true);
}

/* ---------- connection rate / handshake rate ---------- */

static void mode_connrate(void) {
    int n = opt_conns;
    conn *cs = calloc((size_t)n, sizeof *cs);
    static unsigned char in[4096];
    static char info[160] = "plain";
    double warm = opt_duration * 0.1 > 0.3 ? 0.3 : opt_duration * 0.1;
    double t_measure = now_s() + warm, t_end = t_measure + opt_duration;
    double cpu0 = 0, t0 = 0, cpu1 = 0, t1 = 0, self0 = 0, self1 = 0;
    uint64_t done = 0, done0 = 0, done1 = 0, failed = 0;
    bool measuring = false, stopping = false;
    for (int i = 0; i < n; i++) {
        cs[i].slot = i;
        if (!conn_start(&cs[i])) die("connect");
    }
    int active = n;
    struct epoll_event evs[256];
    while (active > 0) {
        double t = now_s();
        if (!measuring && t >= t_measure) {
            measuring = true;
            cpu0 = proc_cpu_s(opt_pid);
            self0 = self_cpu_s();
            t0 = t;
            done0 = done;
        }
        if (t >= t_end && !stopping) {
            stopping = true;
            cpu1 = proc_cpu_s(opt_pid);
            self1 = self_cpu_s();
            t1 = t;
            done1 = done;
        }
        int k = epoll_wait(ep, evs, 256, 5000);
        if (k == 0) {
            errno = ETIMEDOUT;
            die("connection cycle stalled");
        }
        if (k < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int i = 0; i < k; i++) {
            conn *c = evs[i].data.ptr;
            bool finished = false, bad = false;
            if (c->state != C_OPEN) {
                int r = conn_progress(c);
                if (r < 0) {
                    bad = true;
                } else if (r > 0) {
                    if (c->ssl && done == 0) snprintf(info, sizeof info, "%s", tls_info(c));
                    ssize_t w = conn_write(c, pattern, opt_size);
                    if (w != (ssize_t)opt_size) bad = true; /* 64 bytes always fit */
                }
            } else {
                for (;;) {
                    ssize_t r = conn_read(c, in + c->recvd, sizeof in - c->recvd);
                    if (r > 0) {
                        c->recvd += (uint64_t)r;
                        if (c->recvd >= opt_size) {
                            finished = true;
                            break;
                        }
                    } else if (r == -1) {
                        break;
                    } else {
                        bad = true;
                        break;
                    }
                }
                if (finished && memcmp(in, pattern, opt_size) != 0) {
                    errno = EPROTO;
                    die("echo mismatch");
                }
            }
            if (finished || bad) {
                conn_close(c, false);
                if (finished) done++;
                else failed++;
                if (failed > 100 && failed > done) die("too many failed connections");
                if (stopping || !conn_start(c)) {
                    if (!stopping) failed++;
                    active--;
                }
            }
        }
    }
    if (!stopping) { /* every slot failed before the end */
        cpu1 = proc_cpu_s(opt_pid);
        self1 = self_cpu_s();
        t1 = now_s();
        done1 = done;
    }
    double elapsed = t1 - t0;
    double cpu = cpu1 - cpu0;
    uint64_t counted = done1 - done0;
    printf("conns_per_s=%.1f server_cpu_us_per_conn=%.2f server_cpu_util=%.3f "
           "client_cpu_util=%.3f completed=%llu failed=%llu slots=%d tls=%s\n",
           counted / elapsed, counted ? cpu * 1e6 / counted : 0, cpu / elapsed,
           (self1 - self0) / elapsed, (unsigned long long)counted, (unsigned long long)failed, n,
           info);
}

/* ---------- idle connections ---------- */

static void mode_idle(void) {
    raise_nofile();
    int n = opt_count;
    conn *cs = calloc((size_t)n, sizeof *cs);
    long rss0 = proc_rss_kb(opt_pid);
    /* Keeps this many connections between connect and their echo at once,
     * so the server's accept queue never overflows. */
    const int inflight_max = opt_tls ? 64 : 512;
    int started = 0, inflight = 0, ready = 0, failed = 0;
    bool out_of_fds = false;
    static unsigned char in[256];
    struct epoll_event evs[256];
    double deadline = now_s() + 60;
    for (;;) {
        while (started < n && !out_of_fds && inflight < inflight_max) {
            cs[started].slot = started;
            if (!conn_start(&cs[started])) {
                out_of_fds = true;
                break;
            }
            started++;
            inflight++;
        }
        if (ready + failed >= started && (started >= n || out_of_fds)) break;
        int k = epoll_wait(ep, evs, 256, 1000);
        if (k < 0 && errno != EINTR) die("epoll_wait");
        for (int i = 0; i < k; i++) {
            conn *c = evs[i].data.ptr;
            bool bad = false;
            if (c->state != C_OPEN) {
                int r = conn_progress(c);
                if (r < 0) bad = true;
                else if (r > 0 && conn_write(c, "x", 1) != 1) bad = true;
            } else {
                ssize_t r = conn_read(c, in, sizeof in);
                if (r == 1) {
                    ready++;
                    inflight--;
                    /* idle from now on: nothing more to wait for */
                    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                } else if (r != -1) {
                    bad = true;
                }
            }
            if (bad) {
                conn_close(c, true);
                failed++;
                inflight--;
            }
        }
        if (now_s() > deadline) break;
    }
    /* Let the server settle (freed buffers, finished tasks), then measure. */
    usleep((useconds_t)(opt_settle * 1e6));
    long rss1 = proc_rss_kb(opt_pid);
    double per = ready ? (double)(rss1 - rss0) * 1024.0 / ready : 0;
    printf("bytes_per_conn=%.1f reached=%d requested=%d failed=%d rss_before_kb=%ld "
           "rss_after_kb=%ld%s tls=%s\n",
           per, ready, n, failed, rss0, rss1, out_of_fds ? " client_out_of_fds=1" : "",
           opt_tls ? "TLS" : "plain");
    for (int i = 0; i < started; i++) conn_close(&cs[i], true);
}

/* ---------- main ---------- */

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "error=deadline\n";
    write(1, msg, sizeof msg - 1);
    _exit(3);
}

static int usage(void) {
    fprintf(stderr,
            "usage: load pingpong|bulk|connrate|idle --port P [--tls] [--duration S]\n"
            "            [--conns N] [--count N] [--size B] [--window B] [--chunk B]\n"
            "            [--pid SERVER_PID] [--settle S]\n");
    return 2;
}

int main(int argc, char **argv) {
    if (argc < 2) return usage();
    const char *mode = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--tls") == 0) {
            opt_tls = true;
            continue;
        }
        if (!v) return usage();
        i++;
        if (strcmp(a, "--port") == 0) opt_port = atoi(v);
        else if (strcmp(a, "--duration") == 0) opt_duration = atof(v);
        else if (strcmp(a, "--conns") == 0) opt_conns = atoi(v);
        else if (strcmp(a, "--count") == 0) opt_count = atoi(v);
        else if (strcmp(a, "--size") == 0) opt_size = (size_t)atol(v);
        else if (strcmp(a, "--window") == 0) opt_window = (size_t)atol(v);
        else if (strcmp(a, "--chunk") == 0) opt_chunk = (size_t)atol(v);
        else if (strcmp(a, "--pid") == 0) opt_pid = atoi(v);
        else if (strcmp(a, "--settle") == 0) opt_settle = atof(v);
        else return usage();
    }
    if (opt_port <= 0 || opt_conns < 1 || opt_size < 1 || opt_size > 4096 || opt_chunk < 1 ||
        opt_chunk > 65536)
        return usage();
    {
        /* OpenSSL's socket BIO writes with write(2): a server that resets
         * must give EPIPE, not kill the client. Blocked, not ignored. */
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGPIPE);
        pthread_sigmask(SIG_BLOCK, &set, NULL);
    }
    signal(SIGALRM, on_alarm);
    alarm((unsigned)(opt_duration + opt_settle) + 90);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    make_pattern(65536); /* covers the largest chunk and the largest read */
    if (opt_tls) setup_tls();
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (strcmp(mode, "pingpong") == 0) mode_pingpong();
    else if (strcmp(mode, "bulk") == 0) mode_bulk();
    else if (strcmp(mode, "connrate") == 0) mode_connrate();
    else if (strcmp(mode, "idle") == 0) mode_idle();
    else return usage();
    return 0;
}

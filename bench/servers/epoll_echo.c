/* The practical ceiling: a one-thread, level-triggered, non-blocking epoll
 * echo server (or, with --sink, a server that reads and discards).
 *
 * Usage: epoll_echo [--port N] [--sink]
 * Prints "listening on PORT" once it accepts connections.
 *
 * Per connection it keeps nothing in user space until a write would block;
 * then the unwritten rest is copied aside and reading from that connection
 * pauses until it is written (back-pressure). One 64 KiB read buffer is
 * shared by every connection. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

typedef struct {
    size_t len, off;
    char data[];
} pending;

static char buf[65536];
static pending **pend; /* indexed by descriptor; NULL when nothing waits */
static size_t pend_cap;
static bool sink;
static int ep;
static volatile sig_atomic_t stop;

static void on_signal(int sig) {
    (void)sig;
    stop = 1;
}

static void drop(int fd) {
    if ((size_t)fd < pend_cap && pend[fd]) {
        free(pend[fd]);
        pend[fd] = NULL;
    }
    close(fd);
}

static void set_events(int fd, uint32_t events) {
    struct epoll_event ev = {.events = events, .data.fd = fd};
    epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
}

/* Writes what it can; the rest waits for EPOLLOUT. False: the connection died. */
static bool send_or_park(int fd, const char *data, size_t len) {
    size_t off = 0;
    while (off < len) {
        ssize_t w = send(fd, data + off, len - off, MSG_NOSIGNAL);
        if (w > 0) {
            off += (size_t)w;
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else if (w < 0 && errno == EAGAIN) {
            if ((size_t)fd >= pend_cap) {
                size_t cap = pend_cap ? pend_cap : 1024;
                while (cap <= (size_t)fd) cap *= 2;
                pend = realloc(pend, cap * sizeof *pend);
                memset(pend + pend_cap, 0, (cap - pend_cap) * sizeof *pend);
                pend_cap = cap;
            }
            pending *p = malloc(sizeof *p + (len - off));
            p->len = len - off;
            p->off = 0;
            memcpy(p->data, data + off, len - off);
            pend[fd] = p;
            set_events(fd, EPOLLOUT);
            return true;
        } else {
            return false;
        }
    }
    return true;
}

static void on_readable(int fd) {
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n > 0) {
            if (!sink) {
                if (!send_or_park(fd, buf, (size_t)n)) {
                    drop(fd);
                    return;
                }
                if ((size_t)fd < pend_cap && pend[fd]) return; /* parked: stop reading */
            }
            if ((size_t)n < sizeof buf) return; /* most likely drained */
        } else if (n == 0) {
            drop(fd);
            return;
        } else if (errno == EINTR) {
            continue;
        } else if (errno == EAGAIN) {
            return;
        } else {
            drop(fd);
            return;
        }
    }
}

static void on_writable(int fd) {
    pending *p = (size_t)fd < pend_cap ? pend[fd] : NULL;
    if (!p) {
        set_events(fd, EPOLLIN);
        return;
    }
    while (p->off < p->len) {
        ssize_t w = send(fd, p->data + p->off, p->len - p->off, MSG_NOSIGNAL);
        if (w > 0) {
            p->off += (size_t)w;
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else if (w < 0 && errno == EAGAIN) {
            return;
        } else {
            drop(fd);
            return;
        }
    }
    free(p);
    pend[fd] = NULL;
    set_events(fd, EPOLLIN);
}

int main(int argc, char **argv) {
    int port = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            port = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--sink") == 0) {
            sink = true;
        } else {
            fprintf(stderr, "usage: %s [--port N] [--sink]\n", argv[0]);
            return 2;
        }
    }
    bench_process_limits();
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, 4096) != 0) {
        perror("bind/listen");
        return 1;
    }
    socklen_t al = sizeof a;
    getsockname(lfd, (struct sockaddr *)&a, &al);
    printf("listening on %u\n", ntohs(a.sin_port));
    fflush(stdout);

    ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    struct epoll_event evs[256];
    while (!stop) {
        int n = epoll_wait(ep, evs, 256, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            perror("epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == lfd) {
                for (;;) {
                    int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (c < 0) {
                        if (errno == EINTR || errno == ECONNABORTED) continue;
                        if (errno != EAGAIN) perror("accept4");
                        break;
                    }
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct epoll_event cev = {.events = EPOLLIN, .data.fd = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
                }
                continue;
            }
            uint32_t e = evs[i].events;
            if ((size_t)fd < pend_cap && pend[fd]) {
                if (e & (EPOLLOUT | EPOLLERR | EPOLLHUP)) on_writable(fd);
            } else if (e & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                on_readable(fd);
            }
        }
    }
    return 0;
}

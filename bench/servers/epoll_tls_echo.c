/* The C ceiling for TLS: a one-thread, level-triggered, non-blocking epoll
 * echo server on OpenSSL (libssl), what a C programmer would write by hand.
 *
 * Usage: epoll_tls_echo [--port N] --tls --cert FILE --key FILE
 * (--tls is accepted so the command line matches sack_echo's; this server
 * is always TLS.) Prints "listening on PORT" once it accepts connections.
 *
 * - TLS 1.2 and 1.3, OpenSSL's default suites, groups and session handling
 *   (two TLS 1.3 tickets per full handshake, as the other servers send).
 * - Non-blocking SSL_do_handshake / SSL_read / SSL_write, WANT_READ and
 *   WANT_WRITE each waiting for the event they name.
 * - Reads: read-ahead into a 64 KiB record buffer (one recv per socket
 *   buffer, not two per record), then SSL_read until 64 KiB of plaintext or
 *   nothing more, then one SSL_write of it (partial writes on; what is not
 *   taken waits in a per-connection copy, and reading from that connection
 *   pauses until it is written: back-pressure).
 * - SSL_MODE_RELEASE_BUFFERS (as nginx): an idle connection holds no
 *   record buffers.
 * - Writes go through a small custom BIO calling send(MSG_NOSIGNAL), so no
 *   SIGPIPE even though SIGPIPE keeps its default action (never ignored).
 * - TCP_NODELAY on every connection, backlog 4096, 127.0.0.1. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

#define READ_SIZE 65536

typedef struct {
    int fd;
    SSL *ssl;
    bool established;
    uint32_t events; /* what epoll waits for */
    char *out;       /* plaintext SSL_write did not take yet */
    size_t out_len;
} conn;

static unsigned char buf[READ_SIZE];
static conn **conns; /* indexed by descriptor */
static size_t conns_cap;
static int ep;
static volatile sig_atomic_t stop;
static BIO_METHOD *send_method;

static void on_signal(int sig) {
    (void)sig;
    stop = 1;
}

/* ------------------------------------------------ the send(MSG_NOSIGNAL) BIO */
static int bio_fd(BIO *b) { return (int)(intptr_t)BIO_get_data(b); }

static int bio_write(BIO *b, const char *data, int len) {
    BIO_clear_retry_flags(b);
    for (;;) {
        ssize_t n = send(bio_fd(b), data, (size_t)len, MSG_NOSIGNAL);
        if (n >= 0) return (int)n;
        if (errno == EINTR) continue;
        if (errno == EAGAIN) BIO_set_retry_write(b);
        return -1;
    }
}

static int bio_read(BIO *b, char *data, int len) {
    BIO_clear_retry_flags(b);
    for (;;) {
        ssize_t n = recv(bio_fd(b), data, (size_t)len, 0);
        if (n >= 0) return (int)n;
        if (errno == EINTR) continue;
        if (errno == EAGAIN) BIO_set_retry_read(b);
        return -1;
    }
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr) {
    (void)b, (void)num, (void)ptr;
    return cmd == BIO_CTRL_FLUSH ? 1 : 0; /* nothing is buffered here */
}

static BIO *send_bio(int fd) {
    BIO *b = BIO_new(send_method);
    if (!b) return NULL;
    BIO_set_data(b, (void *)(intptr_t)fd);
    BIO_set_init(b, 1);
    return b;
}

/* ---------------------------------------------------------- connections */
static void drop(conn *c) {
    ERR_clear_error();
    conns[c->fd] = NULL;
    close(c->fd); /* also leaves the epoll set */
    SSL_free(c->ssl);
    free(c->out);
    free(c);
}

static void want(conn *c, uint32_t events) {
    if (c->events == events) return;
    struct epoll_event ev = {.events = events, .data.fd = c->fd};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->events = events;
}

/* SSL_write of data (or of the parked rest when data == c->out).
 * 1: all written; 0: the rest is parked and its event awaited; -1: dropped. */
static int write_out(conn *c, const unsigned char *data, size_t len) {
    size_t off = 0;
    while (off < len) {
        int n = SSL_write(c->ssl, data + off, (int)(len - off));
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        int e = SSL_get_error(c->ssl, n);
        if (e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ) {
            drop(c);
            return -1;
        }
        /* The retry must offer the same bytes (ACCEPT_MOVING_WRITE_BUFFER
         * lets them live elsewhere). */
        size_t rest = len - off;
        if ((const char *)data != c->out) {
            c->out = malloc(rest);
            memcpy(c->out, data + off, rest);
        } else if (off) {
            memmove(c->out, c->out + off, rest);
        }
        c->out_len = rest;
        want(c, e == SSL_ERROR_WANT_WRITE ? EPOLLOUT : EPOLLIN);
        return 0;
    }
    if ((const char *)data == c->out) {
        free(c->out);
        c->out = NULL;
        c->out_len = 0;
    }
    return 1;
}

/* Whatever epoll reported, move the connection forward as far as it goes. */
static void service(conn *c) {
    if (!c->established) {
        int r = SSL_do_handshake(c->ssl);
        if (r != 1) {
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_READ) {
                want(c, EPOLLIN);
            } else if (e == SSL_ERROR_WANT_WRITE) {
                want(c, EPOLLOUT);
            } else {
                ERR_clear_error();
                drop(c);
            }
            return;
        }
        c->established = true;
    }
    if (c->out && write_out(c, (const unsigned char *)c->out, c->out_len) != 1) return;
    for (;;) {
        size_t got = 0;
        int e = SSL_ERROR_NONE;
        while (got < READ_SIZE) {
            int n = SSL_read(c->ssl, buf + got, (int)(READ_SIZE - got));
            if (n > 0) {
                got += (size_t)n;
                continue;
            }
            e = SSL_get_error(c->ssl, n);
            break;
        }
        if (got && write_out(c, buf, got) != 1) return;
        if (e == SSL_ERROR_NONE) continue; /* the buffer filled up: read on */
        if (e == SSL_ERROR_WANT_READ) {
            want(c, EPOLLIN);
        } else if (e == SSL_ERROR_WANT_WRITE) {
            want(c, EPOLLOUT); /* e.g. a key update to answer */
        } else {               /* close_notify, EOF or an error */
            ERR_clear_error();
            drop(c);
        }
        return;
    }
}

static void accept_all(int lfd, SSL_CTX *ctx) {
    int one = 1;
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno != EAGAIN) perror("accept4");
            return;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if ((size_t)fd >= conns_cap) {
            size_t cap = conns_cap ? conns_cap : 1024;
            while (cap <= (size_t)fd) cap *= 2;
            conns = realloc(conns, cap * sizeof *conns);
            memset(conns + conns_cap, 0, (cap - conns_cap) * sizeof *conns);
            conns_cap = cap;
        }
        conn *c = calloc(1, sizeof *c);
        BIO *b = send_bio(fd);
        c->fd = fd;
        c->ssl = SSL_new(ctx);
        if (!c->ssl || !b) {
            BIO_free(b);
            SSL_free(c->ssl);
            free(c);
            close(fd);
            continue;
        }
        SSL_set_bio(c->ssl, b, b);
        SSL_set_accept_state(c->ssl);
        c->events = EPOLLIN;
        conns[fd] = c;
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
}

int main(int argc, char **argv) {
    int port = 0;
    const char *cert = NULL, *key = NULL;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--port") == 0 && v) {
            port = atoi(v), i++;
        } else if (strcmp(argv[i], "--tls") == 0) {
            /* always TLS */
        } else if (strcmp(argv[i], "--cert") == 0 && v) {
            cert = v, i++;
        } else if (strcmp(argv[i], "--key") == 0 && v) {
            key = v, i++;
        } else {
            fprintf(stderr, "usage: %s [--port N] --tls --cert FILE --key FILE\n", argv[0]);
            return 2;
        }
    }
    if (!cert || !key) {
        fprintf(stderr, "%s needs --cert and --key\n", argv[0]);
        return 2;
    }
    bench_process_limits(); /* and SIGPIPE stays at its default action */
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
        SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        fprintf(stderr, "TLS setup failed:\n");
        ERR_print_errors_fp(stderr);
        return 1;
    }
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_read_ahead(ctx, 1);
    SSL_CTX_set_default_read_buffer_len(ctx, READ_SIZE);
    send_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "send(MSG_NOSIGNAL)");
    if (!send_method || !BIO_meth_set_write(send_method, bio_write) || !BIO_meth_set_read(send_method, bio_read) ||
        !BIO_meth_set_ctrl(send_method, bio_ctrl)) {
        fprintf(stderr, "BIO_meth_new failed\n");
        return 1;
    }

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
                accept_all(lfd, ctx);
            } else if ((size_t)fd < conns_cap && conns[fd]) {
                /* an earlier event of this batch may have dropped it */
                service(conns[fd]);
            }
        }
    }
    return 0;
}

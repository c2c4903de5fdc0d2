/* A libuv echo server, written the way a careful libuv user would: one
 * shared 64 KiB read buffer, uv_try_write first, a copy and uv_write only
 * for what the kernel did not take (reading pauses until it is written).
 *
 * Usage: uv_echo [--port N]
 * Prints "listening on PORT". */
#include <uv.h>

#include "common.h"

typedef struct {
    uv_write_t req;
    uv_buf_t buf;
} write_req;

static char rbuf[65536];

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
    (void)h;
    (void)suggested;
    *b = uv_buf_init(rbuf, sizeof rbuf);
}

static void on_closed(uv_handle_t *h) {
    free(h);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b);

static void on_written(uv_write_t *req, int status) {
    write_req *w = (write_req *)req;
    uv_stream_t *s = req->handle;
    free(w);
    if (status < 0) {
        if (!uv_is_closing((uv_handle_t *)s)) uv_close((uv_handle_t *)s, on_closed);
        return;
    }
    uv_read_start(s, on_alloc, on_read);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
    if (n < 0) {
        if (!uv_is_closing((uv_handle_t *)s)) uv_close((uv_handle_t *)s, on_closed);
        return;
    }
    if (n == 0) return;
    uv_buf_t out = uv_buf_init(b->base, (unsigned)n);
    int r = uv_try_write(s, &out, 1);
    if (r == n) return;
    if (r < 0 && r != UV_EAGAIN) {
        uv_close((uv_handle_t *)s, on_closed);
        return;
    }
    size_t done = r < 0 ? 0 : (size_t)r;
    size_t rest = (size_t)n - done;
    write_req *w = malloc(sizeof *w + rest);
    memcpy((char *)(w + 1), b->base + done, rest);
    w->buf = uv_buf_init((char *)(w + 1), (unsigned)rest);
    uv_read_stop(s);
    uv_write(&w->req, s, &w->buf, 1, on_written);
}

static void on_connection(uv_stream_t *server, int status) {
    if (status < 0) return;
    uv_tcp_t *c = malloc(sizeof *c);
    uv_tcp_init(server->loop, c);
    if (uv_accept(server, (uv_stream_t *)c) != 0) {
        uv_close((uv_handle_t *)c, on_closed);
        return;
    }
    uv_tcp_nodelay(c, 1);
    uv_read_start((uv_stream_t *)c, on_alloc, on_read);
}

static void on_signal(uv_signal_t *h, int sig) {
    (void)sig;
    uv_stop(h->loop);
}

int main(int argc, char **argv) {
    int port = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            port = atoi(argv[++i]);
        } else {
            fprintf(stderr, "usage: %s [--port N]\n", argv[0]);
            return 2;
        }
    }
    bench_process_limits();
    bench_block_sigpipe(); /* libuv writes with write(2) */
    uv_loop_t *loop = uv_default_loop();
    uv_tcp_t server;
    uv_tcp_init(loop, &server);
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", port, &a);
    int r = uv_tcp_bind(&server, (const struct sockaddr *)&a, 0);
    if (r == 0) r = uv_listen((uv_stream_t *)&server, 4096, on_connection);
    if (r != 0) {
        fprintf(stderr, "listen: %s\n", uv_strerror(r));
        return 1;
    }
    int al = sizeof a;
    uv_tcp_getsockname(&server, (struct sockaddr *)&a, &al);
    printf("listening on %u\n", ntohs(a.sin_port));
    fflush(stdout);
    uv_signal_t sigterm, sigint;
    uv_signal_init(loop, &sigterm);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    uv_signal_init(loop, &sigint);
    uv_signal_start(&sigint, on_signal, SIGINT);
    uv_run(loop, UV_RUN_DEFAULT);
    return 0;
}

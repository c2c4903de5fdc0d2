/* A TCP proxy: every client that connects gets its own connection to an
 * upstream address, and bytes flow both ways until both sides are done.
 *
 * Usage: sack_tcp_proxy --upstream HOST:PORT [--address ADDR] [--port N]
 *                       [--max-connections N] [--queue-limit BYTES]
 *                       [--no-flow-control]
 *
 *   --upstream HOST:PORT  where each client is forwarded to (required)
 *   --address ADDR        where to listen (default 127.0.0.1)
 *   --port N              the port (default 0: the OS picks a free one)
 *   --max-connections N   exit once N client connections have finished
 *                         (both of their sockets closed); default: run
 *                         until SIGINT or SIGTERM
 *   --queue-limit BYTES   send queue limit of every connection (default
 *                         1 MiB, at least 64 KiB); reading one side pauses
 *                         once the other side has more than half of it
 *                         queued, and resumes when a quarter is left
 *   --no-flow-control     never pause: every byte is queued, however slow
 *                         the receiver (unlimited send queues). Only for
 *                         showing what flow control saves; memory then
 *                         grows with the difference in speeds.
 *
 * Prints "listening on PORT" first, then one line per event.
 *
 * FLOW CONTROL. Data read from one side (the source) is sent to the other
 * (the destination) from the source's message callback. When the
 * destination's send queue passes the high mark (half the queue limit), or
 * a send is refused with SACK_TCP_ERR_QUEUE_FULL (the refused chunk is kept
 * and sent first later), the source is paused with sack_tcp_pause: the
 * kernel's receive window fills and TCP slows the sender down. The
 * destination's drain callback (its queue fell to the low mark, a quarter of
 * the limit) sends what was kept and resumes the source. At most one read
 * (read_buffer_size, 64 KiB at most) arrives after a pause, so a queue
 * holds at most high mark + one read < the limit, and no byte is dropped.
 * The pause decision and the drain's resume are made under one mutex per
 * direction, so a drain can never slip between "queue is high" and "pause".
 *
 * MEMORY. With the default limit the proxy's peak RSS (VmHWM) stays near
 * 5 MiB however much is moved: the test example.proxy_256mib
 * (proxy_test.c) moves 256 MiB to a slow reader through it and fails above
 * 32 MiB. With --no-flow-control the same transfer peaks at 85-140 MiB
 * (measured on loopback): much of the 256 MiB waits in the proxy.
 *
 * CONNECTING. An accepted client is paused at once (in the listener's
 * connect callback, before it can deliver anything) and resumed when the
 * upstream connection is ready, so nothing arrives before there is
 * somewhere to send it.
 *
 * ENDING. Both sides allow half-open connections: when one peer finishes
 * sending (end callback), the proxy calls sack_tcp_end on the other side,
 * which sends FIN after everything queued; the other direction keeps
 * flowing. A connection closes by itself once both directions have ended.
 * When one side closes (for any reason, a reset included), the other side
 * is closed with sack_tcp_close, which still sends what is queued.
 *
 * HANDLES. The accepted handle (from the listener's connect callback) and
 * the upstream handle (from sack_tcp_open) are each freed in their own
 * close callback. The pair both belong to holds one more reference to each
 * (sack_tcp_retain), so either side can always call the other's handle;
 * the pair and those references go when both sides have closed. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "example_util.h"
#include "sack_tcp.h"

enum { CLIENT = 0, UPSTREAM = 1 };

typedef struct pair pair;

/* One of a pair's two connections; its user data. */
typedef struct {
    pair *pair;
    int index;     /* CLIENT or UPSTREAM */
    sack_tcp *h;   /* the pair's own reference, NULL until known (state_lock) */
    bool closed;   /* its close callback ran (state_lock) */
} side;

/* Data read from side s goes to side 1 - s; everything about that
 * direction is guarded by dir_lock[s]. */
struct pair {
    char peer[SACK_TCP_ADDRESS_MAX + 8];
    side sides[2];
    pthread_mutex_t state_lock;
    pthread_mutex_t dir_lock[2];
    bool paused[2];            /* we paused side s */
    uint8_t *kept[2];          /* a chunk refused with QUEUE_FULL, sent first */
    size_t kept_len[2];
    int eof[2];                /* 0, 1: side s ended, 2: side s closed */
    int propagated[2];         /* what of eof[s] was passed on to 1 - s */
    unsigned long long bytes[2]; /* forwarded from side s */
    unsigned long pauses[2];   /* how often side s was paused for flow control */
};

static const char *upstream_address;
static bool flow_control = true;
static size_t queue_limit = 1024 * 1024;
static size_t high_mark, low_mark, read_size;
static long max_connections; /* 0: no limit */

static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;
static long finished_connections; /* guarded by count_lock */

static const char *side_name(int index) { return index == CLIENT ? "client" : "upstream"; }

static sack_tcp *handle_of(pair *p, int index) {
    pthread_mutex_lock(&p->state_lock);
    sack_tcp *h = p->sides[index].h;
    pthread_mutex_unlock(&p->state_lock);
    return h;
}

/* Passes side s's end (or close) on to the other side once nothing from s
 * is kept back. Called with dir_lock[s] held. */
static void propagate_locked(pair *p, int s) {
    if (p->kept[s] != NULL || p->eof[s] <= p->propagated[s]) return;
    sack_tcp *dst = handle_of(p, 1 - s);
    p->propagated[s] = p->eof[s];
    if (dst == NULL) return;
    if (p->eof[s] == 1)
        sack_tcp_end(dst);   /* FIN after everything queued */
    else
        sack_tcp_close(dst); /* also sends everything queued first */
}

/* Side s's message callback: forward to the other side. */
static void forward(side *src, sack_tcp *conn, const uint8_t *data, size_t len) {
    pair *p = src->pair;
    int s = src->index;
    sack_tcp *dst = handle_of(p, 1 - s);
    pthread_mutex_lock(&p->dir_lock[s]);
    if (p->kept[s] != NULL) {
        /* Cannot happen (we are paused until the kept chunk is sent), but
         * never drop a byte: keep this one after it. */
        uint8_t *grown = realloc(p->kept[s], p->kept_len[s] + len);
        if (grown == NULL) {
            pthread_mutex_unlock(&p->dir_lock[s]);
            printf("out of memory for %s, aborting\n", p->peer);
            sack_tcp_abort(conn);
            return;
        }
        memcpy(grown + p->kept_len[s], data, len);
        p->kept[s] = grown;
        p->kept_len[s] += len;
    } else {
        sack_tcp_result r = dst ? sack_tcp_send(dst, data, len) : SACK_TCP_ERR_CLOSED;
        size_t queued = 0;
        if (r == SACK_TCP_OK) {
            p->bytes[s] += len;
            if (flow_control && sack_tcp_get_queued_bytes(dst, &queued) == SACK_TCP_OK &&
                queued > high_mark && !p->paused[s]) {
                p->paused[s] = true;
                p->pauses[s]++;
                sack_tcp_pause(conn);
            }
        } else if (r == SACK_TCP_ERR_QUEUE_FULL) {
            p->kept[s] = malloc(len);
            if (p->kept[s] == NULL) {
                pthread_mutex_unlock(&p->dir_lock[s]);
                printf("out of memory for %s, aborting\n", p->peer);
                sack_tcp_abort(conn);
                return;
            }
            memcpy(p->kept[s], data, len);
            p->kept_len[s] = len;
            if (!p->paused[s]) p->pauses[s]++;
            p->paused[s] = true;
            sack_tcp_pause(conn);
        }
        /* SACK_TCP_ERR_CLOSED: the other side is gone, and its close
         * callback closes this one; there is nowhere to deliver to. */
    }
    pthread_mutex_unlock(&p->dir_lock[s]);
}

/* The other side of s can take more (its drain callback, or for the client
 * side the upstream's ready callback): send what was kept, pass on an end,
 * resume side s. */
static void release(pair *p, int s) {
    sack_tcp *dst = handle_of(p, 1 - s);
    sack_tcp *src = handle_of(p, s);
    pthread_mutex_lock(&p->dir_lock[s]);
    if (p->kept[s] != NULL) {
        sack_tcp_result r = sack_tcp_send(dst, p->kept[s], p->kept_len[s]);
        if (r == SACK_TCP_ERR_QUEUE_FULL) { /* another drain follows */
            pthread_mutex_unlock(&p->dir_lock[s]);
            return;
        }
        if (r == SACK_TCP_OK) p->bytes[s] += p->kept_len[s];
        free(p->kept[s]);
        p->kept[s] = NULL;
        p->kept_len[s] = 0;
    }
    propagate_locked(p, s);
    if (p->paused[s]) {
        p->paused[s] = false;
        if (src != NULL) sack_tcp_resume(src);
    }
    pthread_mutex_unlock(&p->dir_lock[s]);
}

static void free_pair(pair *p) {
    for (int s = 0; s < 2; s++) {
        free(p->kept[s]);
        pthread_mutex_destroy(&p->dir_lock[s]);
        sack_tcp_free(p->sides[s].h); /* the pair's reference; NULL is ignored */
    }
    pthread_mutex_destroy(&p->state_lock);
    free(p);
}

/* Marks side index of p closed; true when both are, and the caller then
 * finishes the pair. */
static bool mark_closed(pair *p, int index) {
    pthread_mutex_lock(&p->state_lock);
    p->sides[index].closed = true;
    bool both = p->sides[0].closed && p->sides[1].closed;
    pthread_mutex_unlock(&p->state_lock);
    return both;
}

static void finish_pair(pair *p) {
    printf("finished %s (%llu bytes up, %llu bytes down, paused %lu and %lu times)\n", p->peer,
           p->bytes[CLIENT], p->bytes[UPSTREAM], p->pauses[CLIENT], p->pauses[UPSTREAM]);
    free_pair(p);
    pthread_mutex_lock(&count_lock);
    long finished = ++finished_connections;
    pthread_mutex_unlock(&count_lock);
    if (finished == max_connections) example_stop();
}

/* Records the upstream handle once (from its connect callback or from
 * sack_tcp_open's result, whichever comes first) with the pair's own
 * reference; closes it if the client is already gone. */
static void register_upstream(pair *p, sack_tcp *h) {
    bool close_it = false;
    pthread_mutex_lock(&p->state_lock);
    side *u = &p->sides[UPSTREAM];
    if (u->h == NULL && !u->closed) {
        sack_tcp_retain(h);
        u->h = h;
        close_it = p->sides[CLIENT].closed;
    }
    pthread_mutex_unlock(&p->state_lock);
    if (close_it) sack_tcp_close(h);
}

static void conn_message(void *ud, sack_tcp *conn, const uint8_t *data, size_t len) {
    forward(ud, conn, data, len);
}

static void conn_drain(void *ud, sack_tcp *conn) {
    side *d = ud;
    (void)conn;
    release(d->pair, 1 - d->index); /* this side can take more from the other */
}

static void conn_end(void *ud, sack_tcp *conn) {
    side *src = ud;
    pair *p = src->pair;
    (void)conn;
    pthread_mutex_lock(&p->dir_lock[src->index]);
    if (p->eof[src->index] < 1) p->eof[src->index] = 1;
    propagate_locked(p, src->index);
    pthread_mutex_unlock(&p->dir_lock[src->index]);
}

static void conn_error(void *ud, sack_tcp *conn, sack_tcp_result code, const char *message,
                       const uint8_t *data, size_t len) {
    side *e = ud;
    (void)conn;
    (void)data;
    (void)len;
    printf("error on %s's %s side: %s: %s\n", e->pair->peer, side_name(e->index),
           sack_tcp_error_name(code), message);
}

/* The last callback of either side: close the other side, release ours. */
static void conn_close(void *ud, sack_tcp *conn) {
    side *c = ud;
    pair *p = c->pair;
    pthread_mutex_lock(&p->dir_lock[c->index]);
    p->eof[c->index] = 2;
    propagate_locked(p, c->index);
    pthread_mutex_unlock(&p->dir_lock[c->index]);
    /* Marked before our reference goes, so register_upstream never
     * retains a released handle. */
    bool both = mark_closed(p, c->index);
    sack_tcp_free(conn); /* the reference sack_tcp_open or the connect callback gave us */
    if (both) finish_pair(p);
}

static void upstream_connect(void *ud, sack_tcp *conn, sack_tcp_result status) {
    side *u = ud;
    register_upstream(u->pair, conn);
    if (status != SACK_TCP_OK)
        printf("upstream %s for %s failed: %s: %s\n", upstream_address, u->pair->peer,
               sack_tcp_error_name(status), sack_tcp_last_error_message());
}

static void upstream_ready(void *ud, sack_tcp *conn) {
    side *u = ud;
    (void)conn;
    printf("upstream connected for %s\n", u->pair->peer);
    release(u->pair, CLIENT); /* the client was paused until now */
}

static void describe_peer(sack_tcp *conn, char *out, size_t size) {
    char ip[SACK_TCP_ADDRESS_MAX] = "?";
    uint16_t port = 0;
    sack_tcp_get_remote_address(conn, ip, sizeof ip);
    sack_tcp_get_remote_port(conn, &port);
    snprintf(out, size, strchr(ip, ':') ? "[%s]:%u" : "%s:%u", ip, (unsigned)port);
}

static void set_limits(sack_tcp_options *o) {
    o->read_buffer_size = read_size;
    o->send_queue_limit = flow_control ? queue_limit : SIZE_MAX;
    o->send_queue_low_mark = low_mark;
    o->allow_half_open = true;
}

/* The listener's connect callback: `conn` is a new client, ours to free. */
static void server_connect(void *ud, sack_tcp *conn, sack_tcp_result status) {
    (void)ud;
    (void)status; /* always SACK_TCP_OK for a listener */
    pair *p = calloc(1, sizeof *p);
    if (p == NULL) {
        sack_tcp_abort(conn);
        sack_tcp_free(conn);
        return;
    }
    describe_peer(conn, p->peer, sizeof p->peer);
    pthread_mutex_init(&p->state_lock, NULL);
    pthread_mutex_init(&p->dir_lock[0], NULL);
    pthread_mutex_init(&p->dir_lock[1], NULL);
    for (int s = 0; s < 2; s++) {
        p->sides[s].pair = p;
        p->sides[s].index = s;
    }
    sack_tcp_retain(conn);
    p->sides[CLIENT].h = conn;
    /* Nothing is read from the client until the upstream is ready. */
    p->paused[CLIENT] = true;
    sack_tcp_pause(conn);
    sack_tcp_set_user_data(conn, &p->sides[CLIENT]);
    sack_tcp_on_message(conn, conn_message);
    sack_tcp_on_drain(conn, conn_drain);
    sack_tcp_on_end(conn, conn_end);
    sack_tcp_on_error(conn, conn_error);
    sack_tcp_on_close(conn, conn_close);
    printf("connection from %s\n", p->peer);

    sack_tcp_options o;
    sack_tcp_options_init(&o);
    o.to_address = upstream_address;
    set_limits(&o);
    o.on_connect = upstream_connect;
    o.on_ready = upstream_ready;
    o.on_message = conn_message;
    o.on_drain = conn_drain;
    o.on_end = conn_end;
    o.on_error = conn_error;
    o.on_close = conn_close;
    o.user_data = &p->sides[UPSTREAM];
    sack_tcp *upstream = NULL;
    if (sack_tcp_open(&o, &upstream) == SACK_TCP_OK) {
        /* Its callbacks may all have run already (its connect callback
         * registered it, its close callback released `upstream`);
         * register_upstream then does nothing. */
        register_upstream(p, upstream);
    } else {
        printf("cannot open upstream %s for %s: %s\n", upstream_address, p->peer,
               sack_tcp_last_error_message());
        if (mark_closed(p, UPSTREAM)) finish_pair(p); /* not yet: the client is open */
        sack_tcp_close(conn); /* its close callback finishes the pair */
    }
}

static void listener_error(void *ud, sack_tcp *listener, sack_tcp_result code,
                           const char *message, const uint8_t *data, size_t len) {
    (void)ud;
    (void)listener;
    (void)data;
    (void)len;
    printf("accept failed: %s: %s\n", sack_tcp_error_name(code), message);
}

static int usage(const char *program) {
    fprintf(stderr,
            "usage: %s --upstream HOST:PORT [--address ADDR] [--port N]\n"
            "          [--max-connections N] [--queue-limit BYTES] [--no-flow-control]\n"
            "  --upstream HOST:PORT  forward every client to this address\n"
            "  --address ADDR        listen address (default 127.0.0.1)\n"
            "  --port N              port, 0 picks a free one (default 0)\n"
            "  --max-connections N   exit after N client connections finished\n"
            "  --queue-limit BYTES   send queue limit per connection (default 1048576,\n"
            "                        at least 65536)\n"
            "  --no-flow-control     never pause reading; queue without limit\n",
            program);
    return 2;
}

int main(int argc, char **argv) {
    const char *address = "127.0.0.1";
    long port = 0, limit = (long)queue_limit;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(arg, "--no-flow-control") == 0) {
            flow_control = false;
        } else if (strcmp(arg, "--upstream") == 0 && value) {
            upstream_address = value;
            i++;
        } else if (strcmp(arg, "--address") == 0 && value) {
            address = value;
            i++;
        } else if (strcmp(arg, "--port") == 0 && value && parse_number(value, 0, 65535, &port)) {
            i++;
        } else if (strcmp(arg, "--max-connections") == 0 && value &&
                   parse_number(value, 1, 1000000000L, &max_connections)) {
            i++;
        } else if (strcmp(arg, "--queue-limit") == 0 && value &&
                   parse_number(value, 65536, 1L << 30, &limit)) {
            i++;
        } else {
            return usage(argv[0]);
        }
    }
    if (upstream_address == NULL) return usage(argv[0]);
    queue_limit = (size_t)limit;
    high_mark = queue_limit / 2;
    low_mark = queue_limit / 4;
    read_size = queue_limit / 4 < 65536 ? queue_limit / 4 : 65536;

    example_catch_stop_signals();

    sack_tcp_options o;
    sack_tcp_options_init(&o);
    o.address = address;
    o.port = (int32_t)port;
    set_limits(&o); /* inherited by every accepted connection */
    o.on_connect = server_connect;
    o.on_error = listener_error;
    sack_tcp *listener = NULL;
    if (sack_tcp_open(&o, &listener) != SACK_TCP_OK) {
        fprintf(stderr, "cannot listen on %s: %s\n", address, sack_tcp_last_error_message());
        return 1;
    }
    example_print_port(listener);

    example_wait_for_stop();

    size_t left = 0;
    bool ok = example_shutdown(listener, &left);
    printf("served %ld connections, %zu handles left\n", finished_connections, left);
    return ok && left == 0 ? 0 : 1;
}

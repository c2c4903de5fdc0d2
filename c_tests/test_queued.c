/* Queued delivery: callbacks run on the thread that calls sack_tcp_dispatch,
 * woken through the event descriptor in a poll() loop. */
#include <poll.h>
#include <pthread.h>
#include <string.h>

#include "harness.h"

static pthread_t main_thread;
static int off_thread_callbacks;

/* Runs dispatch until cond holds, waiting in poll() on the event fd. */
#define PUMP_UNTIL(cond)                                                       \
    do {                                                                       \
        long long dl_ = harness_now_ms() + WAIT_MS;                            \
        while (!(cond)) {                                                      \
            long long left_ = dl_ - harness_now_ms();                          \
            if (left_ <= 0) FAIL("timed out pumping for %s", #cond);           \
            struct pollfd p_ = {.fd = event_fd, .events = POLLIN};             \
            poll(&p_, 1, (int)left_);                                          \
            size_t n_ = 0;                                                     \
            CHECK_OK(sack_tcp_dispatch(64, &n_));                              \
        }                                                                      \
    } while (0)

static void note_thread(void) {
    if (!pthread_equal(pthread_self(), main_thread)) off_thread_callbacks++;
}

static void q_connect(void *ud, sack_tcp *s, sack_tcp_result st) {
    note_thread();
    rec_on_connect(ud, s, st);
}
static void q_ready(void *ud, sack_tcp *s) {
    note_thread();
    /* Dispatching from inside a callback would wait for itself. */
    size_t n = 99;
    CHECK_RESULT(sack_tcp_dispatch(1, &n), SACK_TCP_ERR_WOULD_DEADLOCK);
    CHECK_EQ(n, 99);
    rec_on_ready(ud, s);
}
static void q_message(void *ud, sack_tcp *s, const uint8_t *d, size_t n) {
    note_thread();
    rec_on_message(ud, s, d, n);
}
static void q_close(void *ud, sack_tcp *s) {
    note_thread();
    rec_on_close(ud, s);
}

static recorder server_conn;
static void q_accept(void *ud, sack_tcp *conn, sack_tcp_result st) {
    (void)ud;
    note_thread();
    recorder_init(&server_conn);
    server_conn.echo = true;
    server_conn.free_on_close = true;
    CHECK_OK(sack_tcp_set_user_data(conn, &server_conn));
    rec_on_connect(&server_conn, conn, st);
}

TEST(queued_delivery_poll_loop) {
    main_thread = pthread_self();
    sack_tcp_runtime_options ro;
    CHECK_OK(sack_tcp_runtime_options_init(&ro));
    ro.delivery_mode = SACK_TCP_DELIVERY_QUEUED;
    CHECK_OK(sack_tcp_runtime_start(&ro));
    int event_fd = -1;
    CHECK_OK(sack_tcp_get_event_fd(&event_fd));
    CHECK(event_fd >= 0);

    sack_tcp_options o;
    CHECK_OK(sack_tcp_options_init(&o));
    o.address = "127.0.0.1";
    o.on_connect = q_accept;
    o.on_ready = q_ready;
    o.on_message = q_message;
    o.on_close = q_close;
    recorder listener_rec;
    recorder_init(&listener_rec);
    o.user_data = &listener_rec;
    sack_tcp *listener = NULL;
    CHECK_OK(sack_tcp_open(&o, &listener));
    uint16_t port = 0;
    CHECK_OK(sack_tcp_get_local_port(listener, &port));

    recorder cli;
    recorder_init(&cli);
    CHECK_OK(sack_tcp_options_init(&o));
    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%u", port);
    o.to_address = target;
    o.on_connect = q_connect;
    o.on_ready = q_ready;
    o.on_message = q_message;
    o.on_close = q_close;
    o.user_data = &cli;
    sack_tcp *c = NULL;
    CHECK_OK(sack_tcp_open(&o, &c));

    /* Nothing runs until this thread dispatches. */
    PUMP_UNTIL(cli.readies == 1);
    CHECK_OK(sack_tcp_send(c, "queued", 6));
    PUMP_UNTIL(cli.data_len == 6);
    CHECK(memcmp(cli.data, "queued", 6) == 0);
    CHECK_OK(sack_tcp_close(c));
    PUMP_UNTIL(cli.closes == 1 && server_conn.closes == 1);
    CHECK_STR(cli.log, "CRMX");
    CHECK_STR(server_conn.log, "CRMX");

    /* The listener's close callback arrives through shutdown, on this
     * thread: shutdown delivers what the closing sockets raised. */
    CHECK_OK(sack_tcp_close(listener));
    CHECK_OK(sack_tcp_shutdown());
    CHECK_EQ(listener_rec.closes, 1);
    CHECK_EQ(off_thread_callbacks, 0);
    sack_tcp_free(c);
    sack_tcp_free(listener);
    recorder_destroy(&cli);
    recorder_destroy(&server_conn);
    recorder_destroy(&listener_rec);

    /* The mode outlives shutdown: the next runtime queues too. */
    size_t n = 0;
    CHECK_OK(sack_tcp_dispatch(1, &n));
    CHECK_EQ(n, 0);
}

TEST(queued_dispatch_refused_in_threaded_mode) {
    size_t n = 7;
    CHECK_RESULT(sack_tcp_dispatch(10, &n), SACK_TCP_ERR_NOT_APPLICABLE);
    CHECK_EQ(n, 7);
    int fd = -5;
    CHECK_RESULT(sack_tcp_get_event_fd(&fd), SACK_TCP_ERR_NOT_APPLICABLE);
    CHECK_EQ(fd, -5);
}

#define _GNU_SOURCE
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- registration and main ---- */

#define MAX_TESTS 256
static struct {
    const char *name;
    test_fn fn;
} tests[MAX_TESTS];
static int n_tests;
static const char *current_test = "?";
static int slow_factor = 1;

int harness_slow(void) {
    return slow_factor;
}

/* Reads SACK_TCP_TEST_SLOW (see harness.h); anything but 1..100 fails. */
static void read_slow_factor(void) {
    const char *v = getenv("SACK_TCP_TEST_SLOW");
    if (v == NULL || *v == 0) return;
    char *end = NULL;
    long n = strtol(v, &end, 10);
    if (*end != 0 || n < 1 || n > 100) {
        fprintf(stderr, "SACK_TCP_TEST_SLOW=%s: expected a whole number from 1 to 100\n", v);
        exit(2);
    }
    slow_factor = (int)n;
}

void harness_register(const char *name, test_fn fn) {
    if (n_tests == MAX_TESTS) abort();
    tests[n_tests].name = name;
    tests[n_tests].fn = fn;
    n_tests++;
}

void harness_fail(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "FAIL %s at %s:%d: ", current_test, file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    _exit(1);
}

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "FAIL: test exceeded its time limit\n";
    if (write(2, msg, sizeof msg - 1) < 0) {
        /* nothing more to do */
    }
    _exit(1);
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (int i = 0; i < n_tests; i++) printf("%s\n", tests[i].name);
        return 0;
    }
    if (argc != 2) {
        fprintf(stderr, "usage: %s TEST | --list\n", argv[0]);
        return 2;
    }
    read_slow_factor();
    signal(SIGALRM, on_alarm);
    alarm(120 * (unsigned)slow_factor);
    for (int i = 0; i < n_tests; i++) {
        if (strcmp(tests[i].name, argv[1]) == 0) {
            current_test = tests[i].name;
            tests[i].fn();
            harness_teardown();
            printf("PASS %s\n", current_test);
            return 0;
        }
    }
    fprintf(stderr, "no test named %s\n", argv[1]);
    return 2;
}

void harness_teardown(void) {
    CHECK_OK(sack_tcp_shutdown());
    CHECK_EQ(sack_tcp_live_handles(), 0);
}

/* ---- waiting ---- */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond;
static pthread_once_t cond_once = PTHREAD_ONCE_INIT;

static void cond_init(void) {
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&cond, &attr);
    pthread_condattr_destroy(&attr);
}

long long harness_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void harness_lock(void) {
    pthread_once(&cond_once, cond_init);
    pthread_mutex_lock(&lock);
}

void harness_unlock(void) {
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
}

bool harness_wait(long long deadline_ms) {
    if (harness_now_ms() >= deadline_ms) return false;
    struct timespec ts = {.tv_sec = deadline_ms / 1000, .tv_nsec = (deadline_ms % 1000) * 1000000};
    pthread_cond_timedwait(&cond, &lock, &ts);
    return true;
}

/* ---- recorders ---- */

void recorder_init(recorder *r) {
    memset(r, 0, sizeof *r);
    r->connect_status = 1; /* not yet called */
}

void recorder_destroy(recorder *r) {
    free(r->data);
    r->data = NULL;
}

void recorder_options(recorder *r, sack_tcp_options *opts) {
    opts->on_connect = rec_on_connect;
    opts->on_ready = rec_on_ready;
    opts->on_message = rec_on_message;
    opts->on_close = rec_on_close;
    opts->on_error = rec_on_error;
    opts->on_drain = rec_on_drain;
    opts->user_data = r;
}

/* Every callback brackets itself with these to detect overlap and
 * callbacks after close. `leave` publishes the callback's counter in the
 * same critical section that ends its use of the recorder, so a test that
 * saw the count may free the recorder at once. */
static void enter(recorder *r, sack_tcp *s, char letter) {
    harness_lock();
    if (r->in_callback++ > 0) r->overlap = true;
    if (r->closes > 0) r->callback_after_close = true;
    if (r->sock == NULL) r->sock = s;
    if (r->log_len + 1 < sizeof r->log) r->log[r->log_len++] = letter;
    harness_unlock();
}

static void leave(recorder *r, int *counter) {
    harness_lock();
    r->in_callback--;
    if (counter) (*counter)++;
    harness_unlock();
}

void rec_on_connect(void *ud, sack_tcp *s, sack_tcp_result status) {
    recorder *r = ud;
    enter(r, s, 'C');
    harness_lock();
    r->connect_status = status;
    harness_unlock();
    leave(r, &r->connects);
}

void rec_on_ready(void *ud, sack_tcp *s) {
    recorder *r = ud;
    enter(r, s, 'R');
    leave(r, &r->readies);
}

void rec_on_message(void *ud, sack_tcp *s, const uint8_t *data, size_t len) {
    recorder *r = ud;
    enter(r, s, 'M');
    bool read_strings = false;
    sack_tcp_get_read_strings(s, &read_strings);
    harness_lock();
    r->messages++; /* with the data, so a test seeing either sees both */
    if (len > r->max_chunk) r->max_chunk = len;
    if (read_strings && data[len] != 0) r->text_invalid = true;
    if (r->data_len + len > r->data_cap) {
        size_t cap = r->data_cap ? r->data_cap : 4096;
        while (cap < r->data_len + len) cap *= 2;
        r->data = realloc(r->data, cap);
        if (!r->data) abort();
        r->data_cap = cap;
    }
    memcpy(r->data + r->data_len, data, len);
    r->data_len += len;
    bool echo = r->echo, close_now = r->close_on_message;
    harness_unlock();
    if (echo) CHECK_OK(sack_tcp_send(s, data, len));
    if (close_now) CHECK_OK(sack_tcp_close(s));
    leave(r, NULL);
}

void rec_on_close(void *ud, sack_tcp *s) {
    recorder *r = ud;
    enter(r, s, 'X');
    harness_lock();
    bool free_it = r->free_on_close;
    harness_unlock();
    if (free_it) sack_tcp_free(s);
    leave(r, &r->closes);
}

void rec_on_error(void *ud, sack_tcp *s, sack_tcp_result code, const char *msg,
                  const uint8_t *data, size_t len) {
    recorder *r = ud;
    (void)data;
    (void)len;
    enter(r, s, 'E');
    CHECK(msg != NULL);
    harness_lock();
    r->error_code = code;
    harness_unlock();
    leave(r, &r->errors);
}

void rec_on_drain(void *ud, sack_tcp *s) {
    recorder *r = ud;
    enter(r, s, 'D');
    leave(r, &r->drains);
}

/* ---- server ---- */

void server_on_connect(void *ud, sack_tcp *conn, sack_tcp_result status) {
    server *s = ud;
    CHECK_EQ(status, SACK_TCP_OK);
    harness_lock();
    if (s->n_conns == SERVER_MAX_CONNS) FAIL("too many connections");
    recorder *r = &s->conns[s->n_conns];
    recorder_init(r);
    r->sock = conn;
    r->echo = s->echo;
    r->close_on_message = s->close_on_message;
    r->free_on_close = true;
    r->log[r->log_len++] = 'C';
    r->connects = 1;
    r->connect_status = status;
    s->n_conns++;
    harness_unlock();
    CHECK_OK(sack_tcp_set_user_data(conn, r));
    CHECK_OK(sack_tcp_on_connect(conn, rec_on_connect));
}

void server_start(server *s, const char *address, const sack_tcp_options *base) {
    memset(s, 0, sizeof *s);
    recorder_init(&s->rec);
    sack_tcp_options o;
    if (base) {
        o = *base;
    } else {
        CHECK_OK(sack_tcp_options_init(&o));
    }
    recorder_options(&s->rec, &o);
    o.on_connect = server_on_connect;
    o.user_data = s;
    o.address = address;
    o.port = 0;
    CHECK_OK(sack_tcp_open(&o, &s->listener));
    CHECK_OK(sack_tcp_get_local_port(s->listener, &s->port));
    CHECK(s->port != 0);
}

void server_stop(server *s) {
    /* Accepted connections report to recorders inside `s`; one still open
     * when the test moves on would call into a recorder that is gone (or
     * reused by the next server_start). Every test ends its connections
     * first; this waits for their close callbacks. */
    WAIT_UNTIL(({
        bool all_closed = true;
        for (int i = 0; i < s->n_conns; i++) all_closed = all_closed && s->conns[i].closes > 0;
        all_closed;
    }));
    CHECK_OK(sack_tcp_close(s->listener));
    WAIT_UNTIL(s->rec.closes == 1);
    sack_tcp_free(s->listener);
    s->listener = NULL;
}

void server_destroy(server *s) {
    for (int i = 0; i < s->n_conns; i++) recorder_destroy(&s->conns[i]);
    recorder_destroy(&s->rec);
}

sack_tcp *client_open(recorder *r, const char *host, uint16_t port, const sack_tcp_options *base) {
    sack_tcp_options o;
    if (base) {
        o = *base;
    } else {
        CHECK_OK(sack_tcp_options_init(&o));
    }
    recorder_options(r, &o);
    char target[128];
    if (strchr(host, ':'))
        snprintf(target, sizeof target, "[%s]:%u", host, (unsigned)port);
    else
        snprintf(target, sizeof target, "%s:%u", host, (unsigned)port);
    o.to_address = target;
    sack_tcp *c = NULL;
    CHECK_OK(sack_tcp_open(&o, &c));
    CHECK(c != NULL);
    return c;
}

/* ---- raw sockets ---- */

static socklen_t make_addr(const char *ip, uint16_t port, struct sockaddr_storage *ss) {
    memset(ss, 0, sizeof *ss);
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(port);
        if (inet_pton(AF_INET6, ip, &a->sin6_addr) != 1) FAIL("bad ip %s", ip);
        return sizeof *a;
    }
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    if (inet_pton(AF_INET, ip, &a->sin_addr) != 1) FAIL("bad ip %s", ip);
    return sizeof *a;
}

int raw_listen(const char *ip, uint16_t *port, int backlog) {
    struct sockaddr_storage ss;
    socklen_t len = make_addr(ip, *port, &ss);
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) FAIL("socket: %s", strerror(errno));
    if (bind(fd, (struct sockaddr *)&ss, len) != 0) FAIL("bind: %s", strerror(errno));
    if (listen(fd, backlog) != 0) FAIL("listen: %s", strerror(errno));
    len = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &len);
    *port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                           : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

int raw_connect(const char *ip, uint16_t port) {
    struct sockaddr_storage ss;
    socklen_t len = make_addr(ip, port, &ss);
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) FAIL("socket: %s", strerror(errno));
    if (connect(fd, (struct sockaddr *)&ss, len) != 0) FAIL("connect: %s", strerror(errno));
    return fd;
}

static void wait_fd(int fd, short events, long long deadline) {
    struct pollfd p = {.fd = fd, .events = events};
    for (;;) {
        long long left = deadline - harness_now_ms();
        if (left <= 0) FAIL("timed out waiting on fd %d", fd);
        int n = poll(&p, 1, (int)left);
        if (n > 0) return;
        if (n < 0 && errno != EINTR) FAIL("poll: %s", strerror(errno));
    }
}

int raw_accept(int fd, int timeout_ms) {
    wait_fd(fd, POLLIN, harness_now_ms() + timeout_ms);
    int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0) FAIL("accept: %s", strerror(errno));
    return c;
}

void raw_read_exact(int fd, void *buf, size_t n, int timeout_ms) {
    long long deadline = harness_now_ms() + timeout_ms;
    size_t got = 0;
    while (got < n) {
        wait_fd(fd, POLLIN, deadline);
        ssize_t k = recv(fd, (char *)buf + got, n - got, MSG_DONTWAIT);
        if (k == 0) FAIL("EOF after %zu of %zu bytes", got, n);
        if (k < 0) {
            if (errno == EAGAIN || errno == EINTR) continue;
            FAIL("recv: %s", strerror(errno));
        }
        got += (size_t)k;
    }
}

size_t raw_read_to_eof(int fd, void *buf, size_t cap, uint32_t *crc, int timeout_ms) {
    long long deadline = harness_now_ms() + timeout_ms;
    size_t total = 0;
    char chunk[65536];
    uint32_t c = 0;
    for (;;) {
        wait_fd(fd, POLLIN, deadline);
        ssize_t k = recv(fd, chunk, sizeof chunk, MSG_DONTWAIT);
        if (k == 0) break;
        if (k < 0) {
            if (errno == EAGAIN || errno == EINTR) continue;
            FAIL("recv after %zu bytes: %s", total, strerror(errno));
        }
        if (buf && total < cap) {
            size_t take = (size_t)k < cap - total ? (size_t)k : cap - total;
            memcpy((char *)buf + total, chunk, take);
        }
        c = crc32_update(c, chunk, (size_t)k);
        total += (size_t)k;
    }
    if (crc) *crc = c;
    return total;
}

void raw_write_all(int fd, const void *buf, size_t n) {
    size_t done = 0;
    while (done < n) {
        ssize_t k = send(fd, (const char *)buf + done, n - done, MSG_NOSIGNAL);
        if (k < 0) {
            if (errno == EINTR) continue;
            FAIL("send: %s", strerror(errno));
        }
        done += (size_t)k;
    }
}

void raw_reset(int fd) {
    struct linger l = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close(fd);
}

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

uint32_t crc32_update(uint32_t crc, const void *data, size_t n) {
    pthread_once(&crc_once, crc_init);
    const unsigned char *p = data;
    crc = ~crc;
    for (size_t i = 0; i < n; i++) crc = crc_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

char *read_cert(const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", CERT_DIR, name);
    FILE *f = fopen(path, "rb");
    if (!f) FAIL("cannot open %s: %s", path, strerror(errno));
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)size + 1);
    if (!text || fread(text, 1, (size_t)size, f) != (size_t)size) FAIL("cannot read %s", path);
    text[size] = 0;
    fclose(f);
    return text;
}

tls_files tls_files_load(void) {
    tls_files f = {read_cert("localhost.pem"), read_cert("localhost.key"), read_cert("ca.pem")};
    return f;
}

void tls_files_free(tls_files *f) {
    free(f->cert);
    free(f->key);
    free(f->ca);
}

/* The C test harness: registration, assertions that print both operands and
 * error names, condition waits with deadlines (never sleeps), event
 * recorders for callbacks, and raw POSIX peers that do not use sack_tcp. */
#ifndef SACK_TCP_HARNESS_H
#define SACK_TCP_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sack_tcp.h"

/* The slow-mode factor: SACK_TCP_TEST_SLOW=N in the environment (a whole
 * number from 1 to 100; 1 when unset) multiplies WAIT_MS and the per-test
 * time limit, for runs under valgrind. It only gives waits longer
 * deadlines: the timing bounds that tests assert are not scaled. */
int harness_slow(void);

/* Default deadline for any single wait (10 s, times the slow factor). */
#define WAIT_MS (10000 * harness_slow())

typedef void (*test_fn)(void);
void harness_register(const char *name, test_fn fn);

/* TEST(name) { ... } defines a test; its ctest entry is found by CMake
 * scanning for this macro. */
#define TEST(name)                                                             \
    static void test_##name(void);                                             \
    __attribute__((constructor)) static void register_##name(void) {           \
        harness_register(#name, test_##name);                                  \
    }                                                                          \
    static void test_##name(void)

__attribute__((noreturn, format(printf, 3, 4))) void harness_fail(const char *file, int line,
                                                                 const char *fmt, ...);
#define FAIL(...) harness_fail(__FILE__, __LINE__, __VA_ARGS__)

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) FAIL("CHECK(%s) failed", #cond);                          \
    } while (0)

#define CHECK_OK(expr)                                                         \
    do {                                                                       \
        sack_tcp_result r_ = (expr);                                           \
        if (r_ != SACK_TCP_OK)                                                 \
            FAIL("%s returned %s (%d): %s", #expr, sack_tcp_error_name(r_), (int)r_, \
                 sack_tcp_last_error_message());                               \
    } while (0)

#define CHECK_RESULT(expr, expected)                                           \
    do {                                                                       \
        sack_tcp_result r_ = (expr), e_ = (expected);                          \
        if (r_ != e_)                                                          \
            FAIL("%s returned %s (%d), expected %s (%d); last error: %s", #expr, \
                 sack_tcp_error_name(r_), (int)r_, sack_tcp_error_name(e_), (int)e_, \
                 sack_tcp_last_error_message());                               \
    } while (0)

#define CHECK_EQ(a, b)                                                         \
    do {                                                                       \
        long long a_ = (long long)(a), b_ = (long long)(b);                    \
        if (a_ != b_) FAIL("%s == %s failed: %lld != %lld", #a, #b, a_, b_);   \
    } while (0)

#define CHECK_STR(a, b)                                                        \
    do {                                                                       \
        const char *a_ = (a), *b_ = (b);                                       \
        if (strcmp(a_, b_) != 0) FAIL("%s == %s failed: \"%s\" != \"%s\"", #a, #b, a_, b_); \
    } while (0)

/* One lock and condition variable for all test state touched by callbacks.
 * Callbacks update state inside harness_lock()/harness_unlock(), which
 * wakes every waiter. */
void harness_lock(void);
void harness_unlock(void);
/* Waits (lock held on entry and exit) until notified or the deadline;
 * returns false once the deadline has passed. */
bool harness_wait(long long deadline_ms);
long long harness_now_ms(void);

/* WAIT_UNTIL(cond): waits for cond (evaluated with the lock held) for up
 * to WAIT_MS, failing the test on timeout. */
#define WAIT_UNTIL_MS(cond, ms)                                                \
    do {                                                                       \
        long long dl_ = harness_now_ms() + (ms);                               \
        harness_lock();                                                        \
        while (!(cond)) {                                                      \
            if (!harness_wait(dl_)) {                                          \
                harness_unlock();                                              \
                FAIL("timed out after %d ms waiting for %s", (int)(ms), #cond); \
            }                                                                  \
        }                                                                      \
        harness_unlock();                                                      \
    } while (0)
#define WAIT_UNTIL(cond) WAIT_UNTIL_MS(cond, WAIT_MS)

/* Records what one socket's callbacks saw. */
typedef struct recorder {
    sack_tcp *sock;         /* the handle the callbacks were given */
    char log[512];          /* event letters: C=connect R=ready M=message D=drain E=error X=close */
    size_t log_len;
    int connects, readies, messages, drains, errors, closes;
    sack_tcp_result connect_status;
    sack_tcp_result error_code;
    unsigned char *data;    /* everything received, appended */
    size_t data_len, data_cap;
    size_t max_chunk;
    bool echo;              /* send every message back */
    bool close_on_message;  /* call sack_tcp_close from the message callback */
    bool free_on_close;     /* sack_tcp_free the handle in the close callback */
    bool callback_after_close;
    bool text_invalid;      /* a text-mode message lacked its NUL or was bad UTF-8 */
    int in_callback;        /* >0 while one of this socket's callbacks runs */
    bool overlap;           /* two callbacks of this socket ran at once */
} recorder;

void recorder_init(recorder *r);
void recorder_destroy(recorder *r);
/* Sets every on_* field of opts to the recorder callbacks, user_data = r. */
void recorder_options(recorder *r, sack_tcp_options *opts);
/* The recorder callbacks themselves, for sack_tcp_on_*. */
void rec_on_connect(void *ud, sack_tcp *s, sack_tcp_result status);
void rec_on_ready(void *ud, sack_tcp *s);
void rec_on_message(void *ud, sack_tcp *s, const uint8_t *data, size_t len);
void rec_on_close(void *ud, sack_tcp *s);
void rec_on_error(void *ud, sack_tcp *s, sack_tcp_result code, const char *msg,
                  const uint8_t *data, size_t len);
void rec_on_drain(void *ud, sack_tcp *s);

/* A listener that gives each accepted connection its own recorder. */
#define SERVER_MAX_CONNS 64
typedef struct server {
    recorder rec; /* the listener's own events (first member: user_data) */
    sack_tcp *listener;
    uint16_t port;
    recorder conns[SERVER_MAX_CONNS];
    int n_conns;
    bool echo, close_on_message, read_strings;
} server;

/* Opens a listener on `address` (e.g. "127.0.0.1", "::1") port 0 with the
 * given options base (NULL = defaults); fills s->port. */
void server_start(server *s, const char *address, const sack_tcp_options *base);
/* The listener's connect callback server_start installs: gives the new
 * connection the next recorder. For wrappers that do more at accept. */
void server_on_connect(void *ud, sack_tcp *conn, sack_tcp_result status);
/* Closes the listener and waits for its close callback. */
void server_stop(server *s);
void server_destroy(server *s);

/* A client with recorder callbacks to "host:port". base may be NULL. */
sack_tcp *client_open(recorder *r, const char *host, uint16_t port, const sack_tcp_options *base);

/* Raw, blocking POSIX sockets for peers that do not use sack_tcp. */
int raw_listen(const char *ip, uint16_t *port, int backlog);
int raw_connect(const char *ip, uint16_t port);
int raw_accept(int fd, int timeout_ms);
/* Reads exactly n bytes within timeout_ms or fails the test. */
void raw_read_exact(int fd, void *buf, size_t n, int timeout_ms);
/* Reads until EOF; returns bytes read (to buf up to cap, counted beyond);
 * crc32 of all bytes through *crc if non-NULL. */
size_t raw_read_to_eof(int fd, void *buf, size_t cap, uint32_t *crc, int timeout_ms);
void raw_write_all(int fd, const void *buf, size_t n);
/* Closes with SO_LINGER 0, sending RST. */
void raw_reset(int fd);

/* The contents of CERT_DIR/name (made by make_certs.sh), NUL-terminated;
 * free() it. Fails the test if missing. */
char *read_cert(const char *name);

/* The server certificate, its key and the CA that signed it, as most TLS
 * tests use them. */
typedef struct tls_files {
    char *cert, *key, *ca; /* localhost.pem, localhost.key, ca.pem */
} tls_files;
/* Fails the test, as read_cert does, if one is missing. */
tls_files tls_files_load(void);
void tls_files_free(tls_files *f);

uint32_t crc32_update(uint32_t crc, const void *data, size_t n);

/* Ends a test: frees nothing, shuts the runtime down and checks that no
 * handle is left. Called by main after each test. */
void harness_teardown(void);

#endif

/* Windows self-test for sack_tcp.dll, on loopback only.
 *
 * Usage: selftest.exe [threads|queued]
 *
 * Reads ca.pem, localhost.pem and localhost.key (made by
 * c_tests/make_certs.sh) from the current directory, then checks:
 *   1. a TLS echo on 127.0.0.1: a listener with the certificate and key, a
 *      client with ssl + ca that verifies it, 1 MiB sent in pieces and
 *      every byte echoed back in order;
 *   2. a connect to a loopback port nobody listens on fails in the connect
 *      callback with SACK_TCP_ERR_REFUSED (WSAECONNREFUSED mapped);
 *   3. service names: ":no-such-service-xyz" is SACK_TCP_ERR_BAD_ADDRESS,
 *      ":ms-sql-s" binds port 1433 (Winsock getaddrinfo's services
 *      database; wine answers from the host's /etc/services, Windows from
 *      its own file, and both list ms-sql-s);
 *   4. reuse_port is refused (Windows has no SO_REUSEPORT);
 *   5. queued mode only: sack_tcp_get_event_fd is
 *      SACK_TCP_ERR_NOT_APPLICABLE and every callback runs on this thread
 *      inside sack_tcp_dispatch (which exercises the loopback signal);
 *   6. after sack_tcp_shutdown no handle is left.
 * Prints PASS and exits 0, or FAIL lines and exits 1. */
#define __USE_MINGW_ANSI_STDIO 1 /* C99 printf (%zu) on any CRT */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sack_tcp.h"

#define TOTAL_BYTES (1024 * 1024)
#define CHUNK 16384

static int queued;
static DWORD main_thread;
static int failures;

static void fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("FAIL: ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
    failures++;
}

static void note(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("  ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
}

/* In queued mode every callback must run here, on the main thread. */
static volatile LONG wrong_thread;
static void on_callback_thread(void) {
    if (queued && GetCurrentThreadId() != main_thread) InterlockedIncrement(&wrong_thread);
}

/* Waits until *flag is set, running queued callbacks meanwhile. */
static int wait_for(volatile LONG *flag, DWORD timeout_ms) {
    DWORD start = GetTickCount();
    while (!InterlockedCompareExchange(flag, 0, 0)) {
        if (GetTickCount() - start > timeout_ms) return 0;
        size_t ran = 0;
        if (queued) {
            sack_tcp_result r = sack_tcp_dispatch(SIZE_MAX, &ran);
            if (r != SACK_TCP_OK) {
                fail("sack_tcp_dispatch: %s", sack_tcp_error_name(r));
                return 0;
            }
        }
        if (ran == 0) Sleep(1);
    }
    return 1;
}

static char *slurp(const char *name) {
    FILE *f = fopen(name, "rb");
    if (!f) {
        printf("FAIL: cannot open %s (run from the directory with the certificates)\n", name);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)size + 1);
    if (!text || fread(text, 1, (size_t)size, f) != (size_t)size) exit(1);
    text[size] = 0;
    fclose(f);
    return text;
}

/* ---- TLS echo ---------------------------------------------------------- */

static unsigned char pattern[TOTAL_BYTES];
static unsigned char *received;
static volatile LONG received_len;
static volatile LONG client_connected, client_ready_flag, client_closed, server_accepted;
static volatile LONG client_secure = -1;
static volatile LONG client_errors;
static volatile LONG mismatch_at = -1;
static sack_tcp_result client_connect_status = 1;

static void server_connect(void *ud, sack_tcp *conn, sack_tcp_result status) {
    (void)ud;
    (void)conn;
    on_callback_thread();
    if (status != SACK_TCP_OK) fail("server connect status %s", sack_tcp_error_name(status));
    InterlockedIncrement(&server_accepted);
}

static void server_message(void *ud, sack_tcp *conn, const uint8_t *data, size_t len) {
    (void)ud;
    on_callback_thread();
    sack_tcp_result r = sack_tcp_send(conn, data, len);
    if (r != SACK_TCP_OK) fail("server echo send: %s", sack_tcp_error_name(r));
}

static void server_close(void *ud, sack_tcp *conn) {
    (void)ud;
    on_callback_thread();
    bool listener = false;
    sack_tcp_is_listener(conn, &listener);
    if (!listener) sack_tcp_free(conn); /* accepted connections are ours */
}

static void client_connect(void *ud, sack_tcp *client, sack_tcp_result status) {
    (void)ud;
    (void)client;
    on_callback_thread();
    client_connect_status = status;
    InterlockedExchange(&client_connected, 1);
}

static void client_ready(void *ud, sack_tcp *client) {
    (void)ud;
    on_callback_thread();
    bool secure = false;
    sack_tcp_get_ssl(client, &secure);
    InterlockedExchange(&client_secure, secure ? 1 : 0);
    InterlockedExchange(&client_ready_flag, 1);
    for (size_t off = 0; off < TOTAL_BYTES; off += CHUNK) {
        sack_tcp_result r = sack_tcp_send(client, pattern + off, CHUNK);
        if (r != SACK_TCP_OK) {
            fail("client send at %zu: %s (%s)", off, sack_tcp_error_name(r),
                 sack_tcp_last_error_message());
            sack_tcp_close(client);
            return;
        }
    }
}

static void client_message(void *ud, sack_tcp *client, const uint8_t *data, size_t len) {
    (void)ud;
    on_callback_thread();
    LONG have = received_len;
    if ((size_t)have + len > TOTAL_BYTES) {
        fail("echo longer than what was sent");
        sack_tcp_close(client);
        return;
    }
    memcpy(received + have, data, len);
    if (memcmp(received + have, pattern + have, len) != 0 && mismatch_at < 0)
        InterlockedExchange(&mismatch_at, have);
    InterlockedExchange(&received_len, have + (LONG)len);
    if (have + (LONG)len == TOTAL_BYTES) sack_tcp_close(client);
}

static void client_error(void *ud, sack_tcp *client, sack_tcp_result code, const char *message,
                         const uint8_t *data, size_t len) {
    (void)ud;
    (void)client;
    (void)data;
    (void)len;
    on_callback_thread();
    printf("  client error: %s: %s\n", sack_tcp_error_name(code), message);
    InterlockedIncrement(&client_errors);
}

static void client_close(void *ud, sack_tcp *client) {
    (void)ud;
    (void)client;
    on_callback_thread();
    InterlockedExchange(&client_closed, 1);
}

static void test_tls_echo(const char *ca, const char *cert, const char *key) {
    for (size_t i = 0; i < TOTAL_BYTES; i++) pattern[i] = (unsigned char)(i * 7 + (i >> 11));
    received = calloc(1, TOTAL_BYTES);

    sack_tcp_options o;
    sack_tcp_options_init(&o);
    o.address = "127.0.0.1";
    o.cert = cert;
    o.key = key;
    o.on_connect = server_connect;
    o.on_message = server_message;
    o.on_close = server_close;
    sack_tcp *server = NULL;
    sack_tcp_result r = sack_tcp_open(&o, &server);
    if (r != SACK_TCP_OK) {
        fail("TLS listen: %s: %s", sack_tcp_error_name(r), sack_tcp_last_error_message());
        return;
    }
    uint16_t port = 0;
    sack_tcp_get_local_port(server, &port);
    note("TLS listener on 127.0.0.1:%u", port);

    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%u", port);
    sack_tcp_options_init(&o);
    o.to_address = target;
    o.ssl = true;
    o.ca = ca;
    o.on_connect = client_connect;
    o.on_ready = client_ready;
    o.on_message = client_message;
    o.on_error = client_error;
    o.on_close = client_close;
    sack_tcp *client = NULL;
    DWORD start = GetTickCount();
    r = sack_tcp_open(&o, &client);
    if (r != SACK_TCP_OK) {
        fail("TLS connect: %s: %s", sack_tcp_error_name(r), sack_tcp_last_error_message());
    } else if (!wait_for(&client_closed, 60000)) {
        fail("TLS echo did not finish in 60 s (%ld of %d bytes back)", (long)received_len,
             TOTAL_BYTES);
    } else {
        if (client_connect_status != SACK_TCP_OK)
            fail("client connect status %s", sack_tcp_error_name(client_connect_status));
        if (!client_ready_flag) fail("no ready callback (handshake did not finish)");
        if (client_secure != 1) fail("sack_tcp_get_ssl said not secure");
        if (client_errors) fail("%ld client error callbacks", (long)client_errors);
        if (received_len != TOTAL_BYTES)
            fail("echo: %ld of %d bytes", (long)received_len, TOTAL_BYTES);
        if (mismatch_at >= 0) fail("echo differs from what was sent at byte %ld", (long)mismatch_at);
        if (server_accepted != 1) fail("server accepted %ld connections", (long)server_accepted);
        if (!failures)
            note("TLS echo: handshake verified against the CA, %d bytes echoed intact in %lu ms",
                 TOTAL_BYTES, (unsigned long)(GetTickCount() - start));
    }
    if (client) sack_tcp_free(client);
    sack_tcp_close(server);
    sack_tcp_free(server);
}

/* ---- connect refused --------------------------------------------------- */

static volatile LONG refused_connected, refused_closed;
static sack_tcp_result refused_status = 1;
static char refused_message[512];

static void refused_connect(void *ud, sack_tcp *s, sack_tcp_result status) {
    (void)ud;
    (void)s;
    on_callback_thread();
    refused_status = status;
    /* Inside a failed connect callback this describes the failure, with
     * the OS error number the code was mapped from. */
    snprintf(refused_message, sizeof refused_message, "%s", sack_tcp_last_error_message());
    InterlockedExchange(&refused_connected, 1);
}

static void refused_close(void *ud, sack_tcp *s) {
    (void)ud;
    (void)s;
    on_callback_thread();
    InterlockedExchange(&refused_closed, 1);
}

static void test_refused(void) {
    /* A port that was just free: open a listener on port 0, note the port,
     * close it. Nothing else listens on loopback there. */
    sack_tcp_options o;
    sack_tcp_options_init(&o);
    o.address = "127.0.0.1";
    sack_tcp *probe = NULL;
    sack_tcp_result r = sack_tcp_open(&o, &probe);
    if (r != SACK_TCP_OK) {
        fail("probe listen: %s", sack_tcp_last_error_message());
        return;
    }
    uint16_t port = 0;
    sack_tcp_get_local_port(probe, &port);
    sack_tcp_close(probe);
    sack_tcp_free(probe);

    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%u", port);
    sack_tcp_options_init(&o);
    o.to_address = target;
    o.on_connect = refused_connect;
    o.on_close = refused_close;
    sack_tcp *client = NULL;
    DWORD start = GetTickCount();
    r = sack_tcp_open(&o, &client);
    if (r != SACK_TCP_OK) {
        /* Also acceptable if the refusal came back synchronously. */
        if (r != SACK_TCP_ERR_REFUSED)
            fail("connect to closed port: open returned %s: %s", sack_tcp_error_name(r),
                 sack_tcp_last_error_message());
        else
            note("connect to %s: open returned SACK_TCP_ERR_REFUSED", target);
        return;
    }
    /* Windows retries a refused loopback SYN for about 2 s. */
    if (!wait_for(&refused_closed, 30000)) {
        fail("connect to closed port %s: no close in 30 s", target);
    } else if (!refused_connected) {
        fail("connect to closed port: close without a connect callback");
    } else if (refused_status != SACK_TCP_ERR_REFUSED) {
        fail("connect to closed port %s: status %s, expected SACK_TCP_ERR_REFUSED (%s)", target,
             sack_tcp_error_name(refused_status), refused_message);
    } else {
        note("connect to %s: SACK_TCP_ERR_REFUSED in the connect callback after %lu ms (%s)",
             target, (unsigned long)(GetTickCount() - start), refused_message);
    }
    sack_tcp_free(client);
}

/* ---- service names ------------------------------------------------------ */

static void test_service_names(void) {
    sack_tcp_options o;
    sack_tcp_options_init(&o);
    o.address = "127.0.0.1:no-such-service-xyz";
    sack_tcp *s = NULL;
    sack_tcp_result r = sack_tcp_open(&o, &s);
    if (r != SACK_TCP_ERR_BAD_ADDRESS) {
        fail("unknown service: %s, expected SACK_TCP_ERR_BAD_ADDRESS", sack_tcp_error_name(r));
        if (r == SACK_TCP_OK) {
            sack_tcp_close(s);
            sack_tcp_free(s);
        }
    } else {
        note("127.0.0.1:no-such-service-xyz -> SACK_TCP_ERR_BAD_ADDRESS (%s)",
             sack_tcp_last_error_message());
    }

    sack_tcp_options_init(&o);
    o.address = "127.0.0.1:ms-sql-s"; /* 1433/tcp in Windows' and Debian's services files */
    s = NULL;
    r = sack_tcp_open(&o, &s);
    if (r == SACK_TCP_OK) {
        uint16_t port = 0;
        sack_tcp_get_local_port(s, &port);
        if (port != 1433)
            fail("127.0.0.1:ms-sql-s bound port %u, expected 1433", port);
        else
            note("127.0.0.1:ms-sql-s -> listening on port 1433");
        sack_tcp_close(s);
        sack_tcp_free(s);
    } else if (r == SACK_TCP_ERR_ADDRESS_IN_USE) {
        note("127.0.0.1:ms-sql-s resolved, but port 1433 is busy here: %s",
             sack_tcp_last_error_message());
    } else {
        fail("127.0.0.1:ms-sql-s: %s: %s", sack_tcp_error_name(r), sack_tcp_last_error_message());
    }
}

/* ---- reuse_port ----------------------------------------------------------- */

static void test_reuse_port(void) {
    sack_tcp_options o;
    sack_tcp_options_init(&o);
    o.address = "127.0.0.1";
    o.reuse_port = true; /* Windows has no SO_REUSEPORT */
    sack_tcp *s = NULL;
    sack_tcp_result r = sack_tcp_open(&o, &s);
    if (r == SACK_TCP_OK) {
        fail("reuse_port listener opened; expected an error on Windows");
        sack_tcp_close(s);
        sack_tcp_free(s);
    } else {
        note("reuse_port -> %s (%s)", sack_tcp_error_name(r), sack_tcp_last_error_message());
    }
}

/* ---- main --------------------------------------------------------------- */

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    queued = argc > 1 && strcmp(argv[1], "queued") == 0;
    main_thread = GetCurrentThreadId();
    printf("sack_tcp %s Windows self-test, %s delivery\n", sack_tcp_version_string(),
           queued ? "queued" : "threaded");

    char *ca = slurp("ca.pem");
    char *cert = slurp("localhost.pem");
    char *key = slurp("localhost.key");

    if (queued) {
        sack_tcp_runtime_options ro;
        sack_tcp_runtime_options_init(&ro);
        ro.delivery_mode = SACK_TCP_DELIVERY_QUEUED;
        sack_tcp_result r = sack_tcp_runtime_start(&ro);
        if (r != SACK_TCP_OK) {
            fail("runtime start (queued): %s", sack_tcp_last_error_message());
            return 1;
        }
        int32_t fd = 12345;
        r = sack_tcp_get_event_fd(&fd);
        if (r != SACK_TCP_ERR_NOT_APPLICABLE || fd != 12345)
            fail("sack_tcp_get_event_fd: %s (fd %d), expected SACK_TCP_ERR_NOT_APPLICABLE",
                 sack_tcp_error_name(r), (int)fd);
        else
            note("sack_tcp_get_event_fd -> SACK_TCP_ERR_NOT_APPLICABLE, as documented for Windows");
    }

    test_tls_echo(ca, cert, key);
    test_refused();
    test_service_names();
    test_reuse_port();

    sack_tcp_result r = sack_tcp_shutdown();
    if (r != SACK_TCP_OK) fail("shutdown: %s", sack_tcp_error_name(r));
    size_t live = sack_tcp_live_handles();
    if (live != 0) fail("%zu handles alive after shutdown", live);
    if (wrong_thread) fail("%ld queued callbacks ran off the main thread", (long)wrong_thread);

    free(ca);
    free(cert);
    free(key);
    free(received);
    if (failures) {
        printf("FAIL (%d)\n", failures);
        return 1;
    }
    printf("PASS\n");
    return 0;
}

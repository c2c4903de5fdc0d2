/* dlopen()s the shared library (path in argv[1]), resolves what it needs
 * with dlsym, runs an echo, shuts the runtime down, checks that no handle
 * is left, dlclose()s the library and checks that only the main thread is
 * left. Four times (see round_trip), so reloads are covered too. Exits 0 on
 * success, 1 with a message on failure; alarm() bounds it. */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sack_tcp.h"

/* Only the types and macros of the header are used: every function is
 * called through a pointer from dlsym, so nothing links the library. */
#define API(name) static __typeof__(&name) p_##name
API(sack_tcp_options_init_sized);
API(sack_tcp_open);
API(sack_tcp_send);
API(sack_tcp_close);
API(sack_tcp_free);
API(sack_tcp_shutdown);
API(sack_tcp_live_handles);
API(sack_tcp_get_local_port);
API(sack_tcp_error_name);
API(sack_tcp_last_error_message);
API(sack_tcp_set_user_data);

__attribute__((noreturn, format(printf, 1, 2))) static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FAIL dlclose: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    _exit(1);
}

#define CALL_OK(expr)                                                          \
    do {                                                                       \
        sack_tcp_result r_ = (expr);                                           \
        if (r_ != SACK_TCP_OK)                                                 \
            die("%s: %s (%s)", #expr, p_sack_tcp_error_name(r_), p_sack_tcp_last_error_message()); \
    } while (0)

/* ---- waiting with deadlines ---- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER; /* CLOCK_REALTIME */

static struct {
    sack_tcp *conn;
    int conn_closes, client_closes, listener_closes, client_readies;
    char got[64];
    size_t got_len;
} st;

static void wake(void) {
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

#define WAIT_FOR(cond)                                                         \
    do {                                                                       \
        struct timespec dl_;                                                   \
        clock_gettime(CLOCK_REALTIME, &dl_);                                   \
        dl_.tv_sec += 10;                                                      \
        pthread_mutex_lock(&mu);                                               \
        while (!(cond))                                                        \
            if (pthread_cond_timedwait(&cv, &mu, &dl_) == ETIMEDOUT) {         \
                pthread_mutex_unlock(&mu);                                     \
                die("timed out waiting for %s", #cond);                        \
            }                                                                  \
        pthread_mutex_unlock(&mu);                                             \
    } while (0)

/* ---- callbacks (they live in this program, not in the library) ---- */

static int listener_tag, client_tag, conn_tag;

static void on_connect(void *ud, sack_tcp *s, sack_tcp_result status) {
    if (ud == &listener_tag) {
        pthread_mutex_lock(&mu);
        st.conn = s;
        wake();
        if (p_sack_tcp_set_user_data(s, &conn_tag) != SACK_TCP_OK) die("set_user_data");
    } else if (status != SACK_TCP_OK) {
        die("connect failed: %s", p_sack_tcp_error_name(status));
    }
}

static void on_ready(void *ud, sack_tcp *s) {
    if (ud != &client_tag) return;
    pthread_mutex_lock(&mu);
    st.client_readies++;
    wake();
    if (p_sack_tcp_send(s, "hello after dlopen", 18) != SACK_TCP_OK) die("send");
}

static void on_message(void *ud, sack_tcp *s, const uint8_t *data, size_t len) {
    if (ud == &conn_tag) {
        if (p_sack_tcp_send(s, data, len) != SACK_TCP_OK) die("echo");
        return;
    }
    pthread_mutex_lock(&mu);
    if (st.got_len + len > sizeof st.got) die("echo too long");
    memcpy(st.got + st.got_len, data, len);
    st.got_len += len;
    wake();
}

static void on_close(void *ud, sack_tcp *s) {
    (void)s;
    pthread_mutex_lock(&mu);
    if (ud == &listener_tag) st.listener_closes++;
    else if (ud == &client_tag) st.client_closes++;
    else st.conn_closes++;
    wake();
}

static int task_count(void) {
    DIR *d = opendir("/proc/self/task");
    if (!d) die("opendir /proc/self/task: %s", strerror(errno));
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

/* Whether the library is still mapped into the process. */
static bool library_mapped(const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f) die("cannot read /proc/self/maps");
    char line[4096];
    bool found = false;
    while (fgets(line, sizeof line, f))
        if (strstr(line, base)) found = true;
    fclose(f);
    return found;
}

static void *resolve(void *lib, const char *name) {
    dlerror();
    void *p = dlsym(lib, name);
    const char *err = dlerror();
    if (err || !p) die("dlsym(%s): %s", name, err ? err : "NULL");
    return p;
}

#define RESOLVE(name) p_##name = (__typeof__(p_##name))resolve(lib, #name)

/* Resolves the functions and runs the echo, shutdown and frees. */
static void use_library(void *lib, int *threads_running) {
    RESOLVE(sack_tcp_options_init_sized);
    RESOLVE(sack_tcp_open);
    RESOLVE(sack_tcp_send);
    RESOLVE(sack_tcp_close);
    RESOLVE(sack_tcp_free);
    RESOLVE(sack_tcp_shutdown);
    RESOLVE(sack_tcp_live_handles);
    RESOLVE(sack_tcp_get_local_port);
    RESOLVE(sack_tcp_error_name);
    RESOLVE(sack_tcp_last_error_message);
    RESOLVE(sack_tcp_set_user_data);

    sack_tcp_options o;
    CALL_OK(p_sack_tcp_options_init_sized(&o, sizeof o));
    o.address = "127.0.0.1";
    o.on_connect = on_connect;
    o.on_ready = on_ready;
    o.on_message = on_message;
    o.on_close = on_close;
    o.user_data = &listener_tag;
    sack_tcp *listener = NULL, *client = NULL;
    CALL_OK(p_sack_tcp_open(&o, &listener));
    uint16_t port = 0;
    CALL_OK(p_sack_tcp_get_local_port(listener, &port));
    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%u", (unsigned)port);
    o.address = NULL;
    o.to_address = target;
    o.user_data = &client_tag;
    CALL_OK(p_sack_tcp_open(&o, &client));
    WAIT_FOR(st.got_len == 18);
    if (memcmp(st.got, "hello after dlopen", 18) != 0) die("echo differs");
    int threads_now = task_count();

    /* Shutdown with the listener and both ends still open. */
    CALL_OK(p_sack_tcp_shutdown());
    pthread_mutex_lock(&mu);
    int closes = st.listener_closes + st.client_closes + st.conn_closes;
    sack_tcp *conn = st.conn;
    pthread_mutex_unlock(&mu);
    if (closes != 3) die("%d close callbacks before shutdown returned, expected 3", closes);
    p_sack_tcp_free(client);
    p_sack_tcp_free(conn);
    p_sack_tcp_free(listener);
    size_t live = p_sack_tcp_live_handles();
    if (live != 0) die("%zu live handles after shutdown", live);
    *threads_running = threads_now;
}

typedef struct helper_args {
    void *lib;
    int threads_running;
} helper_args;

static void *helper(void *arg) {
    helper_args *a = arg;
    use_library(a->lib, &a->threads_running);
    return NULL;
}

/* Rounds 0 and 1 call the library only from a helper thread that has
 * exited before dlclose; rounds 2 and 3 from the main thread. glibc keeps
 * a library loaded while a live thread has thread-local destructors
 * registered in it (Rust's thread_local!), so only rounds 0 and 1 can
 * really unmap it (and round 1 then reloads it from fresh statics); after
 * round 2 it stays mapped until exit, and round 3 reuses it. */
static void round_trip(const char *path, int round) {
    memset(&st, 0, sizeof st);
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib) die("dlopen(%s): %s", path, dlerror());
    int threads_running = 0;
    if (round < 2) {
        helper_args a = {.lib = lib};
        pthread_t t;
        if (pthread_create(&t, NULL, helper, &a) != 0) die("pthread_create");
        if (pthread_join(t, NULL) != 0) die("pthread_join");
        threads_running = a.threads_running - 1; /* not counting the helper */
    } else {
        use_library(lib, &threads_running);
    }
    if (dlclose(lib) != 0) die("dlclose: %s", dlerror());
    int threads_after = task_count();
    bool mapped = library_mapped(path);
    printf("dlclose round %d: threads with the runtime %d, after dlclose %d; library %s after dlclose\n",
           round, threads_running, threads_after, mapped ? "still mapped" : "unmapped");
    fflush(stdout);
    if (threads_running < 2) die("the runtime started no thread?");
    /* With no live thread holding its thread-local destructors, dlclose
     * really unmaps it; otherwise the thread check above proves little. */
    if (round < 2 && mapped) die("round %d: dlclose left the library mapped although no thread that used it is alive", round);
    if (threads_after != 1) die("%d threads left after shutdown and dlclose, expected 1", threads_after);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s PATH-TO-libsack_tcp.so\n", argv[0]);
        return 2;
    }
    alarm(25);
    if (task_count() != 1) die("more than one thread before dlopen");
    for (int round = 0; round < 4; round++) round_trip(argv[1], round);
    printf("PASS dlclose\n");
    return 0;
}

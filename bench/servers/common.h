/* Small helpers shared by the benchmark's C servers (header-only). */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

/* Dies with the run script even if it is killed with SIGKILL, and lifts the
 * descriptor limit to the hard limit (10,000 idle connections need it). */
static inline void bench_process_limits(void) {
    if (!getenv("BENCH_NO_PDEATHSIG")) prctl(PR_SET_PDEATHSIG, SIGKILL); /* e.g. under valgrind */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* Blocks SIGPIPE in this thread and the ones it starts, for servers built
 * on code that writes with write(2) (libuv, OpenSSL's socket BIO): a reset
 * peer then gives EPIPE instead of killing the benchmark. The disposition
 * stays the default. sack_tcp's own servers never call this: the library
 * must not raise SIGPIPE, and the benchmark would show it if it did. */
static inline void bench_block_sigpipe(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

/* Reads a whole file into a NUL-terminated heap string (exits on failure). */
static inline char *bench_read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (!s || fread(s, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(2);
    }
    s[n] = 0;
    fclose(f);
    return s;
}

#endif

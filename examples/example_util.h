/* Small helpers the command-line examples share. */
#ifndef SACK_TCP_EXAMPLE_UTIL_H
#define SACK_TCP_EXAMPLE_UTIL_H

#include <errno.h>
#include <semaphore.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sack_tcp.h"

/* Reads a whole file into a NUL-terminated string (NULL on failure); the
 * caller frees it. PEM certificates and keys are passed to sack_tcp as text. */
static inline char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    char *text = NULL;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    if (size >= 0 && fseek(f, 0, SEEK_SET) == 0) text = malloc((size_t)size + 1);
    if (text != NULL && fread(text, 1, (size_t)size, f) == (size_t)size) {
        text[size] = '\0';
    } else {
        free(text);
        text = NULL;
    }
    fclose(f);
    return text;
}

/* Parses a whole decimal number in [min, max]. */
static inline bool parse_number(const char *text, long min, long max, long *out) {
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < min || value > max) return false;
    *out = value;
    return true;
}

/* ---- the servers' life: listen, wait for the end, shut down ---- */

/* main sleeps in example_wait_for_stop() until SIGINT/SIGTERM or
 * example_stop() (the servers call it when their last allowed connection
 * has closed). Held in a function so that including this header costs a
 * program that does not use it nothing. */
typedef struct example_stopper {
    sem_t wake;
    volatile sig_atomic_t interrupted;
} example_stopper;

static inline example_stopper *example_stopper_get(void) {
    static example_stopper stopper;
    return &stopper;
}

static inline void example_stop(void) {
    sem_post(&example_stopper_get()->wake); /* async-signal-safe */
}

static inline void example_on_signal(int sig) {
    (void)sig;
    example_stopper_get()->interrupted = 1;
    example_stop();
}

/* Line-buffered output (the tests read it as it comes), and SIGINT/SIGTERM
 * end the wait. */
static inline void example_catch_stop_signals(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    sem_init(&example_stopper_get()->wake, 0, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = example_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* Prints the listener's port as "listening on PORT", the line the tests
 * (examples/run_example_test.sh) wait for. */
static inline void example_print_port(sack_tcp *listener) {
    uint16_t bound = 0;
    sack_tcp_get_local_port(listener, &bound);
    printf("listening on %u\n", (unsigned)bound);
    fflush(stdout);
}

static inline void example_wait_for_stop(void) {
    while (sem_wait(&example_stopper_get()->wake) != 0 && errno == EINTR) {
        /* a signal interrupted the wait; its handler posted, so wait again */
    }
    if (example_stopper_get()->interrupted) printf("signal received, stopping\n");
}

/* Stops accepting, releases the listener, then lets shutdown close the
 * connections still open (their close callbacks free them). Stores the
 * handles left alive in *left; returns false, after saying why, if the
 * shutdown failed. */
static inline bool example_shutdown(sack_tcp *listener, size_t *left) {
    sack_tcp_close(listener);
    sack_tcp_free(listener);
    sack_tcp_result r = sack_tcp_shutdown();
    sem_destroy(&example_stopper_get()->wake);
    *left = sack_tcp_live_handles();
    if (r != SACK_TCP_OK) fprintf(stderr, "shutdown: %s\n", sack_tcp_strerror(r));
    return r == SACK_TCP_OK;
}

#endif

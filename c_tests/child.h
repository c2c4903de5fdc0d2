/* Child processes for the tests that drive real third-party peers
 * (openssl s_client/s_server, python3): spawned with pipes on stdin and
 * stdout+stderr, killed with the test (PR_SET_PDEATHSIG), and read with
 * deadlines, never by sleeping. */
#ifndef SACK_TCP_TEST_CHILD_H
#define SACK_TCP_TEST_CHILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct child {
    pid_t pid;
    int in_fd;  /* its stdin */
    int out_fd; /* its stdout and stderr */
    char *out;  /* everything it printed, NUL-terminated */
    size_t out_len, out_cap;
    bool eof;
} child;

/* Starts argv[0] (looked up on PATH) with SIGPIPE at its default. */
void child_spawn(child *c, char *const argv[]);
/* Reads what the child printed, waiting until `deadline` at most once. */
void child_read(child *c, long long deadline);
/* Waits until the child's output contains `needle`; returns where. */
const char *child_expect(child *c, const char *needle, int timeout_ms);
void child_write(child *c, const char *text);
/* Waits (bounded) for the child to exit by itself; returns its wait
 * status. Its output is read to EOF meanwhile. */
int child_wait_exit(child *c, int timeout_ms);
/* Kills the child if it still runs, reaps it, and frees everything. */
void child_finish(child *c);
/* Starts `openssl s_server` on 127.0.0.1 port 0 with the localhost
 * certificate and returns the port it printed (fails the test otherwise). */
uint16_t child_start_s_server(child *c);
/* CERT_DIR/name, the certificates make_certs.sh made. */
void cert_path(char *buf, size_t n, const char *name);

#endif

/* Child processes for the tests (see child.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "harness.h"


void child_spawn(child *c, char *const argv[]) {
    memset(c, 0, sizeof *c);
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) FAIL("pipe2: %s", strerror(errno));
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) FAIL("fork: %s", strerror(errno));
    if (pid == 0) {
        /* Dies with the test, even when the test fails with _exit. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(126);
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(out[1], 2);
        signal(SIGPIPE, SIG_DFL);
        execvp(argv[0], argv);
        static const char msg[] = "exec failed\n";
        if (write(2, msg, sizeof msg - 1) < 0) {
            /* nothing more to do */
        }
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    c->pid = pid;
    c->in_fd = in[1];
    c->out_fd = out[0];
    c->out_cap = 4096;
    c->out = malloc(c->out_cap);
    CHECK(c->out != NULL);
    c->out[0] = 0;
}

/* Reads what the child printed, waiting until `deadline` at most once. */
void child_read(child *c, long long deadline) {
    long long left = deadline - harness_now_ms();
    if (left < 0) left = 0;
    struct pollfd p = {.fd = c->out_fd, .events = POLLIN};
    int n = poll(&p, 1, (int)left);
    if (n < 0 && errno != EINTR) FAIL("poll: %s", strerror(errno));
    if (n <= 0) return;
    if (c->out_len + 4097 > c->out_cap) {
        c->out_cap *= 2;
        c->out = realloc(c->out, c->out_cap);
        CHECK(c->out != NULL);
    }
    ssize_t k = read(c->out_fd, c->out + c->out_len, 4096);
    if (k < 0) {
        if (errno == EINTR || errno == EAGAIN) return;
        FAIL("read from child: %s", strerror(errno));
    }
    if (k == 0) c->eof = true;
    c->out_len += (size_t)k;
    c->out[c->out_len] = 0;
}

/* Waits until the child's output contains `needle`; returns where. */
const char *child_expect(child *c, const char *needle, int timeout_ms) {
    long long deadline = harness_now_ms() + timeout_ms;
    for (;;) {
        const char *at = memmem(c->out, c->out_len, needle, strlen(needle));
        if (at) return at;
        if (c->eof) FAIL("child exited without printing \"%s\"; it printed:\n%s", needle, c->out);
        if (harness_now_ms() >= deadline)
            FAIL("child did not print \"%s\" within %d ms; it printed:\n%s", needle, timeout_ms, c->out);
        child_read(c, deadline);
    }
}

void child_write(child *c, const char *text) {
    size_t n = strlen(text), done = 0;
    while (done < n) {
        ssize_t k = write(c->in_fd, text + done, n - done);
        if (k < 0) {
            if (errno == EINTR) continue;
            FAIL("write to child: %s", strerror(errno));
        }
        done += (size_t)k;
    }
}

/* Waits (bounded) for the child to exit by itself; returns its wait status.
 * Its output is read to EOF meanwhile. */
int child_wait_exit(child *c, int timeout_ms) {
    long long deadline = harness_now_ms() + timeout_ms;
    while (!c->eof) {
        if (harness_now_ms() >= deadline)
            FAIL("child did not finish within %d ms; it printed:\n%s", timeout_ms, c->out);
        child_read(c, deadline);
    }
    int pidfd = (int)syscall(SYS_pidfd_open, c->pid, 0);
    if (pidfd < 0) FAIL("pidfd_open: %s", strerror(errno));
    for (;;) {
        long long left = deadline - harness_now_ms();
        if (left <= 0) FAIL("child closed its output but did not exit within %d ms", timeout_ms);
        struct pollfd p = {.fd = pidfd, .events = POLLIN};
        int n = poll(&p, 1, (int)left);
        if (n > 0) break;
        if (n < 0 && errno != EINTR) FAIL("poll: %s", strerror(errno));
    }
    close(pidfd);
    int status = 0;
    if (waitpid(c->pid, &status, 0) != c->pid) FAIL("waitpid: %s", strerror(errno));
    c->pid = 0;
    return status;
}

/* Kills the child if it still runs, reaps it, and frees everything. */
void child_finish(child *c) {
    if (c->in_fd >= 0) close(c->in_fd);
    if (c->pid > 0) {
        kill(c->pid, SIGKILL);
        int status;
        if (waitpid(c->pid, &status, 0) != c->pid) FAIL("waitpid: %s", strerror(errno));
    }
    close(c->out_fd);
    free(c->out);
    memset(c, 0, sizeof *c);
}

void cert_path(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", CERT_DIR, name);
}


uint16_t child_start_s_server(child *c) {
    char cert[512], key[512];
    cert_path(cert, sizeof cert, "localhost.pem");
    cert_path(key, sizeof key, "localhost.key");
    /* Port 0: s_server prints "ACCEPT 127.0.0.1:PORT" once it listens. */
    char *argv[] = {"openssl", "s_server", "-accept", "127.0.0.1:0", "-cert", cert, "-key", key, NULL};
    child_spawn(c, argv);
    const char *at = child_expect(c, "ACCEPT 127.0.0.1:", WAIT_MS);
    size_t offset = (size_t)(at - c->out) + strlen("ACCEPT 127.0.0.1:");
    long long deadline = harness_now_ms() + WAIT_MS;
    while (!memchr(c->out + offset, '\n', c->out_len - offset)) {
        if (c->eof || harness_now_ms() >= deadline) FAIL("no port after ACCEPT; s_server printed:\n%s", c->out);
        child_read(c, deadline);
    }
    unsigned long port = strtoul(c->out + offset, NULL, 10);
    CHECK(port > 0 && port < 65536);
    return (uint16_t)port;
}

/* The test example.proxy_256mib: 256 MiB through sack_tcp_proxy to a slow
 * reader, every byte checked, and the proxy's memory bounded.
 *
 * Usage: sack_tcp_proxy_test PROXY BOUND_MIB [PROXY_ARGS...]
 *
 *   PROXY      the sack_tcp_proxy program
 *   BOUND_MIB  fail if the proxy's peak RSS (VmHWM) passes this many MiB;
 *              ctest passes 32 (measured: about 5 MiB with flow control,
 *              85-140 MiB with --no-flow-control)
 *   PROXY_ARGS more options for the proxy (e.g. --no-flow-control, to see
 *              the memory it takes without pausing)
 *
 * Plain POSIX sockets, no sack_tcp:
 *   - a sink listens on 127.0.0.1 port 0 with a small SO_RCVBUF and reads
 *     4 KiB per recv(), checking each byte against the generator: slower
 *     than the producer by construction, with no sleeping or pacing;
 *   - the proxy is started pointed at the sink, with --max-connections 1,
 *     its stdout a pipe in which "listening on PORT" is awaited;
 *   - a producer thread connects to the proxy, sends 256 MiB of a
 *     deterministic pseudo-random stream as fast as it can (MSG_NOSIGNAL),
 *     shuts down its write side and reads until the proxy's FIN;
 *   - the sink checks the length and that EOF follows the data, then reads
 *     the proxy's VmHWM from /proc while the proxy is still alive (its
 *     upstream connection is still open: the sink has not closed yet),
 *     then closes, which ends the client side too; the proxy must then
 *     exit by itself with status 0 and every handle freed, and (with no
 *     PROXY_ARGS) must have paused the producer's side at least once.
 * Every wait is poll() with a deadline; alarm() bounds the whole run. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TOTAL_BYTES (256ull * 1024 * 1024)
#define SINK_READ 4096          /* bytes per recv() of the slow reader */
#define SINK_RCVBUF 16384       /* its SO_RCVBUF */
#define PRODUCER_CHUNK 65536    /* bytes per send() of the producer */
#define STEP_TIMEOUT_MS 20000   /* no single wait may take longer */
#define WHOLE_TEST_SECONDS 55   /* alarm(): the whole run */

static pid_t proxy_pid = -1;

static void die(const char *fmt, const char *detail) {
    fprintf(stderr, "FAIL: ");
    fprintf(stderr, fmt, detail);
    fprintf(stderr, "\n");
    if (proxy_pid > 0) kill(proxy_pid, SIGKILL);
    exit(1);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The stream: byte i is byte (i % 8) of splitmix64(i / 8). */
static uint64_t splitmix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* Writes bytes [offset, offset + len) of the stream to buf: byte by byte
 * up to a word boundary, then whole words (little-endian order). */
static void generate(uint64_t offset, uint8_t *buf, size_t len) {
    size_t i = 0;
    while (i < len && (offset + i) % 8 != 0) {
        uint64_t pos = offset + i;
        buf[i++] = (uint8_t)(splitmix64(pos / 8) >> (8 * (pos % 8)));
    }
    for (; i + 8 <= len; i += 8) {
        uint64_t word = splitmix64((offset + i) / 8);
        for (unsigned b = 0; b < 8; b++) buf[i + b] = (uint8_t)(word >> (8 * b));
    }
    for (; i < len; i++) {
        uint64_t pos = offset + i;
        buf[i] = (uint8_t)(splitmix64(pos / 8) >> (8 * (pos % 8)));
    }
}

/* Waits for `events` on fd for at most STEP_TIMEOUT_MS. */
static void wait_fd(int fd, short events, const char *what) {
    struct pollfd pfd = {fd, events, 0};
    for (;;) {
        int n = poll(&pfd, 1, STEP_TIMEOUT_MS);
        if (n > 0) return;
        if (n == 0) die("timed out waiting for %s", what);
        if (errno != EINTR) die("poll failed waiting for %s", what);
    }
}

static void set_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) die("%s", "fcntl O_NONBLOCK");
}

static uint16_t proxy_port;

/* The producer: everything as fast as the proxy takes it, then FIN, then
 * the proxy's FIN back (it passes on the sink's close). */
static void *producer(void *arg) {
    (void)arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) die("%s", "producer socket");
    struct sockaddr_in to;
    memset(&to, 0, sizeof to);
    to.sin_family = AF_INET;
    to.sin_port = htons(proxy_port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&to, sizeof to) != 0) die("%s", "producer connect");
    set_nonblocking(fd);
    uint8_t *chunk = malloc(PRODUCER_CHUNK);
    if (chunk == NULL) die("%s", "malloc");
    uint64_t sent = 0;
    while (sent < TOTAL_BYTES) {
        size_t len = TOTAL_BYTES - sent < PRODUCER_CHUNK ? (size_t)(TOTAL_BYTES - sent) : PRODUCER_CHUNK;
        generate(sent, chunk, len);
        size_t done = 0;
        while (done < len) {
            ssize_t n = send(fd, chunk + done, len - done, MSG_NOSIGNAL);
            if (n > 0) {
                done += (size_t)n;
            } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                wait_fd(fd, POLLOUT, "the proxy to take more (producer)");
            } else if (n < 0 && errno != EINTR) {
                die("producer send: %s", strerror(errno));
            }
        }
        sent += len;
    }
    if (shutdown(fd, SHUT_WR) != 0) die("%s", "producer shutdown");
    /* The proxy sends nothing back; wait for its FIN. */
    for (;;) {
        ssize_t n = recv(fd, chunk, PRODUCER_CHUNK, 0);
        if (n == 0) break;
        if (n > 0) die("%s", "the producer received data");
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            wait_fd(fd, POLLIN, "the proxy's FIN to the producer");
        else if (errno != EINTR)
            die("producer recv: %s", strerror(errno));
    }
    free(chunk);
    close(fd);
    return NULL;
}

/* Reads one line of the proxy's stdout (blocking on poll with a deadline). */
static bool read_line(int fd, char *line, size_t size) {
    size_t n = 0;
    for (;;) {
        wait_fd(fd, POLLIN, "the proxy's output");
        char c;
        ssize_t r = read(fd, &c, 1);
        if (r == 0) return false;
        if (r < 0) {
            if (errno == EINTR) continue;
            die("read proxy output: %s", strerror(errno));
        }
        if (c == '\n') break;
        if (n + 1 < size) line[n++] = c;
    }
    line[n] = '\0';
    return true;
}

/* The proxy's VmHWM in KiB, from /proc/PID/status. */
static long peak_rss_kib(pid_t pid) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) die("cannot open %s", path);
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kib) == 1) break;
    fclose(f);
    if (kib < 0) die("no VmHWM in %s", path);
    return kib;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s PROXY BOUND_MIB [PROXY_ARGS...]\n", argv[0]);
        return 2;
    }
    long bound_mib = atol(argv[2]);
    if (bound_mib <= 0) die("bad bound %s", argv[2]);
    alarm(WHOLE_TEST_SECONDS); /* SIGALRM's default action ends the test */

    /* The sink: a small receive buffer (inherited by the accepted socket). */
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    if (listener < 0) die("%s", "socket");
    int rcvbuf = SINK_RCVBUF;
    setsockopt(listener, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t addr_len = sizeof addr;
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(listener, 4) != 0 ||
        getsockname(listener, (struct sockaddr *)&addr, &addr_len) != 0)
        die("sink listen: %s", strerror(errno));
    char upstream[32];
    snprintf(upstream, sizeof upstream, "127.0.0.1:%u", (unsigned)ntohs(addr.sin_port));

    /* The proxy, its stdout a pipe. */
    int out[2];
    if (pipe(out) != 0) die("%s", "pipe");
    char **args = calloc((size_t)argc + 6, sizeof *args);
    if (args == NULL) die("%s", "calloc");
    int a = 0;
    args[a++] = argv[1];
    args[a++] = "--upstream";
    args[a++] = upstream;
    args[a++] = "--max-connections";
    args[a++] = "1";
    for (int i = 3; i < argc; i++) args[a++] = argv[i];
    args[a] = NULL;
    proxy_pid = fork();
    if (proxy_pid < 0) die("%s", "fork");
    if (proxy_pid == 0) {
        dup2(out[1], STDOUT_FILENO);
        close(out[0]);
        close(out[1]);
        close(listener);
        alarm(WHOLE_TEST_SECONDS);
        execv(argv[1], args);
        perror("execv");
        _exit(127);
    }
    close(out[1]);
    char line[512];
    if (!read_line(out[0], line, sizeof line)) die("%s", "the proxy exited before listening");
    unsigned port = 0;
    if (sscanf(line, "listening on %u", &port) != 1 || port == 0 || port > 65535)
        die("unexpected first line from the proxy: %s", line);
    proxy_port = (uint16_t)port;
    printf("proxy %ld listening on %u, upstream %s\n", (long)proxy_pid, port, upstream);

    double start = now_s();
    pthread_t producer_thread;
    if (pthread_create(&producer_thread, NULL, producer, NULL) != 0) die("%s", "pthread_create");

    /* The slow reader. */
    wait_fd(listener, POLLIN, "the proxy's upstream connection");
    int sink = accept(listener, NULL, NULL);
    if (sink < 0) die("accept: %s", strerror(errno));
    set_nonblocking(sink);
    uint8_t got[SINK_READ], want[SINK_READ];
    uint64_t received = 0;
    for (;;) {
        ssize_t n = recv(sink, got, SINK_READ, 0);
        if (n == 0) break;
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                wait_fd(sink, POLLIN, "data from the proxy (sink)");
            else if (errno != EINTR)
                die("sink recv: %s", strerror(errno));
            continue;
        }
        if (received + (uint64_t)n > TOTAL_BYTES) die("%s", "the sink got more than was sent");
        generate(received, want, (size_t)n);
        if (memcmp(got, want, (size_t)n) != 0) {
            size_t i = 0;
            while (got[i] == want[i]) i++;
            char at[64];
            snprintf(at, sizeof at, "%llu", (unsigned long long)(received + i));
            die("byte %s differs", at);
        }
        received += (uint64_t)n;
    }
    double elapsed = now_s() - start;
    if (received != TOTAL_BYTES) {
        char count[64];
        snprintf(count, sizeof count, "%llu", (unsigned long long)received);
        die("EOF after %s bytes, not 256 MiB", count);
    }
    /* The proxy is still alive: its upstream connection waits for ours. */
    long peak = peak_rss_kib(proxy_pid);
    printf("256 MiB verified in %.2f s (%.0f MiB/s); proxy peak RSS %ld KiB (%.1f MiB), bound %ld MiB\n",
           elapsed, 256.0 / elapsed, peak, peak / 1024.0, bound_mib);
    fflush(stdout);
    close(sink);
    close(listener);

    pthread_join(producer_thread, NULL); /* it waits with deadlines itself */

    /* The proxy exits by itself: its output ends, then it is reaped. */
    bool handles_freed = false;
    unsigned long pauses = 0, other = 0;
    while (read_line(out[0], line, sizeof line)) {
        printf("proxy: %s\n", line);
        if (strstr(line, "0 handles left") != NULL) handles_freed = true;
        const char *p = strstr(line, ", paused ");
        if (p != NULL) sscanf(p, ", paused %lu and %lu times", &pauses, &other);
    }
    int status = 0;
    if (waitpid(proxy_pid, &status, 0) != proxy_pid) die("%s", "waitpid");
    proxy_pid = -1;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) die("%s", "the proxy did not exit with 0");
    if (!handles_freed) die("%s", "the proxy did not report 0 handles left");
    if (peak > bound_mib * 1024) die("%s", "the proxy's peak RSS is above the bound");
    /* With the default options the slow reader must have made the proxy
     * pause the producer's side, or this run proved nothing. */
    if (argc == 3 && pauses == 0) die("%s", "the proxy never paused the producer");
    printf("PASS\n");
    return 0;
}

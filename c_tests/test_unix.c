/* Unix domain sockets: echo over a path and an abstract name, text mode,
 * TLS, fallback and STARTTLS over them, peer credentials, the stale-file
 * and permission rules, the address strings, the TCP-only calls, adopted
 * and inherited descriptors, PROXY headers, a client binding its own end,
 * and third-party peers (Python, openssl s_client and s_server). */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "child.h"
#include "harness.h"

/* ---- set-up ---- */

/* A fresh directory for socket files, removed (with its files) by
 * tmp_dir_remove. */
typedef struct tmp_dir {
    char dir[64];
    char addr[160]; /* "unix:<dir>/s.sock" */
    char path[96];  /* "<dir>/s.sock" */
} tmp_dir;

static void tmp_dir_make(tmp_dir *t) {
    snprintf(t->dir, sizeof t->dir, "/tmp/sack-unix-XXXXXX");
    if (!mkdtemp(t->dir)) FAIL("mkdtemp: %s", strerror(errno));
    snprintf(t->path, sizeof t->path, "%s/s.sock", t->dir);
    snprintf(t->addr, sizeof t->addr, "unix:%s", t->path);
}

static void tmp_dir_remove(tmp_dir *t) {
    unlink(t->path);
    if (rmdir(t->dir) != 0) FAIL("rmdir %s: %s", t->dir, strerror(errno));
}

/* "unix:@sack-<pid>-<n>": unique per process and call. */
static void abstract_name(char *buf, size_t n) {
    static int counter;
    snprintf(buf, n, "unix:@sack-test-%d-%d", (int)getpid(), ++counter);
}

/* Zeroed first, so that passing sizeof the whole struct as the length is
 * valid: the rest of sun_path is NULs. */
static struct sockaddr_un unix_sockaddr(const char *path) {
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    return sa;
}

static sack_tcp_options new_options(void) {
    sack_tcp_options o;
    CHECK_OK(sack_tcp_options_init(&o));
    return o;
}

/* server_start for a Unix address (which has no port to check). */
static void unix_server_start(server *s, const char *address, const sack_tcp_options *base) {
    memset(s, 0, sizeof *s);
    recorder_init(&s->rec);
    sack_tcp_options o = base ? *base : new_options();
    recorder_options(&s->rec, &o);
    o.on_connect = server_on_connect;
    o.user_data = s;
    o.address = address;
    CHECK_OK(sack_tcp_open(&o, &s->listener));
}

static sack_tcp *unix_client_open(recorder *r, const char *address, const sack_tcp_options *base) {
    sack_tcp_options o = base ? *base : new_options();
    recorder_options(r, &o);
    o.to_address = address;
    sack_tcp *c = NULL;
    CHECK_OK(sack_tcp_open(&o, &c));
    return c;
}

static void check_address(sack_tcp *s, bool local, const char *expected) {
    char buf[SACK_TCP_ADDRESS_MAX];
    if (local)
        CHECK_OK(sack_tcp_get_local_address(s, buf, sizeof buf));
    else
        CHECK_OK(sack_tcp_get_remote_address(s, buf, sizeof buf));
    CHECK_STR(buf, expected);
}

/* Echoes `text` through a server on `address` and closes both ends. */
static void echo_round_trip(const char *address, const sack_tcp_options *server_base,
                            const sack_tcp_options *client_base) {
    server srv;
    unix_server_start(&srv, address, server_base);
    srv.echo = true;
    recorder cli;
    recorder_init(&cli);
    sack_tcp *c = unix_client_open(&cli, address, client_base);
    CHECK_OK(sack_tcp_send(c, "hello unix", 10));
    WAIT_UNTIL(cli.data_len == 10);
    CHECK(memcmp(cli.data, "hello unix", 10) == 0);
    CHECK_OK(sack_tcp_close(c));
    WAIT_UNTIL(cli.closes == 1 && srv.n_conns == 1 && srv.conns[0].closes == 1);
    CHECK_EQ(cli.errors, 0);
    CHECK_EQ(srv.conns[0].errors, 0);
    sack_tcp_free(c);
    recorder_destroy(&cli);
    server_stop(&srv);
    server_destroy(&srv);
}

/* ---- echo, addresses, figures ---- */

TEST(unix_path_echo_and_addresses) {
    tmp_dir t;
    tmp_dir_make(&t);
    server srv;
    unix_server_start(&srv, t.addr, NULL);
    srv.echo = true;
    struct stat st;
    CHECK(lstat(t.path, &st) == 0 && S_ISSOCK(st.st_mode));
    check_address(srv.listener, true, t.addr);
    uint16_t port = 1;
    CHECK_OK(sack_tcp_get_local_port(srv.listener, &port));
    CHECK_EQ(port, 0);
    uint16_t ports[2] = {1, 1};
    size_t count = 0;
    CHECK_OK(sack_tcp_get_ports(srv.listener, ports, 2, &count));
    CHECK_EQ(count, 1);
    CHECK_EQ(ports[0], 0);

    recorder cli;
    recorder_init(&cli);
    sack_tcp *c = unix_client_open(&cli, t.addr, NULL);
    CHECK_OK(sack_tcp_send(c, "ping", 4));
    WAIT_UNTIL(cli.data_len == 4 && srv.n_conns == 1);
    CHECK(memcmp(cli.data, "ping", 4) == 0);
    CHECK(strncmp(cli.log, "CR", 2) == 0 && strchr(cli.log, 'M'));
    check_address(c, false, t.addr);
    check_address(c, true, "unix:"); /* the client's end has no name */
    check_address(srv.conns[0].sock, true, t.addr);
    check_address(srv.conns[0].sock, false, "unix:");
    CHECK_OK(sack_tcp_get_remote_port(c, &port));
    CHECK_EQ(port, 0);
    /* Too small a buffer for the address: nothing written. */
    char small[8] = "keep";
    CHECK_RESULT(sack_tcp_get_remote_address(c, small, sizeof small),
                 SACK_TCP_ERR_INVALID_ARGUMENT);
    CHECK_STR(small, "keep");

    sack_tcp_stats stats;
    CHECK_OK(sack_tcp_get_stats(c, &stats, sizeof stats));
    CHECK_EQ(stats.bytes_sent, 4);
    CHECK_EQ(stats.bytes_received, 4);
    CHECK(!stats.has_tcp_info);

    CHECK_OK(sack_tcp_close(c));
    WAIT_UNTIL(cli.closes == 1 && srv.conns[0].closes == 1);
    /* Captured at connect: still readable after close. */
    check_address(c, false, t.addr);
    CHECK_EQ(cli.errors, 0);
    sack_tcp_free(c);
    recorder_destroy(&cli);

    server_stop(&srv);
    /* Removed before the listener's close callback ran. */
    CHECK(lstat(t.path, &st) != 0 && errno == ENOENT);
    server_destroy(&srv);
    tmp_dir_remove(&t);
}

TEST(unix_abstract_echo) {
    char name[96];
    abstract_name(name, sizeof name);
    server srv;
    unix_server_start(&srv, name, NULL);
    srv.echo = true;
    check_address(srv.listener, true, name);
    recorder cli;
    recorder_init(&cli);
    sack_tcp *c = unix_client_open(&cli, name, NULL);
    CHECK_OK(sack_tcp_send(c, "abstract", 8));
    WAIT_UNTIL(cli.data_len == 8);
    CHECK(memcmp(cli.data, "abstract", 8) == 0);
    check_address(c, false, name);
    CHECK_OK(sack_tcp_close(c));
    WAIT_UNTIL(cli.closes == 1 && srv.n_conns == 1 && srv.conns[0].closes == 1);
    sack_tcp_free(c);
    recorder_destroy(&cli);
    server_stop(&srv);
    server_destroy(&srv);
    /* The name went with the socket: it can be bound again. */
    server again;
    unix_server_start(&again, name, NULL);
    server_stop(&again);
    server_destroy(&again);
}

TEST(unix_text_mode) {
    tmp_dir t;
    tmp_dir_make(&t);
    sack_tcp_options o = new_options();
    o.read_strings = true;
    server srv;
    unix_server_start(&srv, t.addr, &o);
    recorder cli;
    recorder_init(&cli);
    sack_tcp *c = unix_client_open(&cli, t.addr, NULL);
    /* A character split across two sends arrives whole. */
    CHECK_OK(sack_tcp_send(c, "h\xc3", 2));
    CHECK_OK(sack_tcp_send(c, "\xa9llo", 4));
    WAIT_UNTIL(srv.n_conns == 1 && srv.conns[0].data_len == 6);
    CHECK(memcmp(srv.conns[0].data, "h\xc3\xa9llo", 6) == 0);
    CHECK(!srv.conns[0].text_invalid);
    CHECK_OK(sack_tcp_close(c));
    WAIT_UNTIL(cli.closes == 1 && srv.conns[0].closes == 1);
    sack_tcp_free(c);
    recorder_destroy(&cli);
    server_stop(&srv);
    server_destroy(&srv);
    tmp_dir_remove(&t);
}

/* ---- TLS, fallback, STARTTLS ---- */

TEST(unix_tls_echo) {
    tmp_dir t;
    tmp_dir_make(&t);
    tls_files p = tls_files_load();
    sack_tcp_options so = new_options();
    so.cert = p.cert;
    so.key = p.key;
    sack_tcp_options co = new_options();
    co.ssl = true;
    co.ca = p.ca; /* no `host`: a Unix client verifies "localhost" */
    echo_round_trip(t.addr, &so, &co);
    tls_files_free(&p);
    tmp_dir_remove(&t);
}

TEST(unix_tls_fallback_serves_both) {
    char name[96];
    abstract_name(name, sizeof name);
    tls_files p = tls_files_load();
    sack_tcp_options so = new_options();
    so.cert = p.cert;
    so.key = p.key;
    so.allow_ssl_fallback = true;
    server srv;
    unix_server_start(&srv, name, &so);
    srv.echo = true;

    sack_tcp_options co = new_options();
    co.ssl = true;
    co.ca = p.ca;
    recorder tls_cli, plain_cli;
    recorder_init(&tls_cli);
    recorder_init(&plain_cli);
    sack_tcp *tc = unix_client_open(&tls_cli, name, &co);
    sack_tcp *pc = unix_client_open(&plain_cli, name, NULL);
    CHECK_OK(sack_tcp_send(tc, "secure", 6));
    CHECK_OK(sack_tcp_send(pc, "GET plain", 9));
    WAIT_UNTIL(tls_cli.data_len == 6 && plain_cli.data_len == 9);
    CHECK(memcmp(tls_cli.data, "secure", 6) == 0);
    CHECK(memcmp(plain_cli.data, "GET plain", 9) == 0);
    bool secure = false;
    CHECK_OK(sack_tcp_get_ssl(tc, &secure));
    CHECK(secure);
    CHECK_OK(sack_tcp_get_ssl(pc, &secure));
    CHECK(!secure);
    CHECK_OK(sack_tcp_close(tc));
    CHECK_OK(sack_tcp_close(pc));
    WAIT_UNTIL(tls_cli.closes == 1 && plain_cli.closes == 1 && srv.n_conns == 2 &&
               srv.conns[0].closes == 1 && srv.conns[1].closes == 1);
    CHECK_EQ(tls_cli.errors + plain_cli.errors, 0);
    sack_tcp_free(tc);
    sack_tcp_free(pc);
    recorder_destroy(&tls_cli);
    recorder_destroy(&plain_cli);
    server_stop(&srv);
    server_destroy(&srv);
    tls_files_free(&p);
}

static struct {
    bool srv_upgraded, cli_upgraded;
} ustt;

/* Server: on its first (plain) ready, announce and upgrade. */
static void ustt_server_ready(void *ud, sack_tcp *s) {
    recorder *r = ud;
    rec_on_ready(ud, s);
    harness_lock();
    bool first = !ustt.srv_upgraded && r->readies == 1;
    if (first) ustt.srv_upgraded = true;
    harness_unlock();
    if (first) {
        CHECK_OK(sack_tcp_send(s, "UPGRADE\n", 8));
        CHECK_OK(sack_tcp_set_ssl(s, true));
    }
}

/* Client: upgrades on "UPGRADE\n". */
static void ustt_client_message(void *ud, sack_tcp *s, const uint8_t *data, size_t len) {
    recorder *r = ud;
    rec_on_message(ud, s, data, len);
    harness_lock();
    bool go = !ustt.cli_upgraded && r->data_len == 8 && memcmp(r->data, "UPGRADE\n", 8) == 0;
    if (go) ustt.cli_upgraded = true;
    harness_unlock();
    if (go) CHECK_OK(sack_tcp_set_ssl(s, true));
}

static void ustt_accept(void *ud, sack_tcp *conn, sack_tcp_result status) {
    server_on_connect(ud, conn, status);
    CHECK_OK(sack_tcp_on_ready(conn, ustt_server_ready));
}

TEST(unix_starttls) {
    tmp_dir t;
    tmp_dir_make(&t);
    tls_files p = tls_files_load();
    sack_tcp_options so = new_options();
    so.cert = p.cert;
    so.key = p.key;
    so.starttls = true;
    server srv;
    unix_server_start(&srv, t.addr, &so);
    CHECK_OK(sack_tcp_on_connect(srv.listener, ustt_accept));
    srv.echo = true;

    sack_tcp_options co = new_options();
    co.ca = p.ca;
    recorder cli;
    recorder_init(&cli);
    sack_tcp_options with_cb = co;
    recorder_options(&cli, &with_cb);
    with_cb.on_message = ustt_client_message;
    with_cb.to_address = t.addr;
    sack_tcp *c = NULL;
    CHECK_OK(sack_tcp_open(&with_cb, &c));
    /* Ready twice on each side: plain, then after the handshake. */
    WAIT_UNTIL(cli.readies == 2 && srv.n_conns == 1 && srv.conns[0].readies == 2);
    bool secure = false;
    CHECK_OK(sack_tcp_get_ssl(c, &secure));
    CHECK(secure);
    CHECK_OK(sack_tcp_send(c, "secret", 6));
    WAIT_UNTIL(cli.data_len == 8 + 6);
    CHECK(memcmp(cli.data, "UPGRADE\nsecret", 14) == 0);
    CHECK_OK(sack_tcp_close(c));
    WAIT_UNTIL(cli.closes == 1 && srv.conns[0].closes == 1);
    CHECK_EQ(cli.errors, 0);
    CHECK_EQ(srv.conns[0].errors, 0);
    sack_tcp_free(c);
    recorder_destroy(&cli);
    server_stop(&srv);
    server_destroy(&srv);
    tls_files_free(&p);
    tmp_dir_remove(&t);
}

/* ---- peer credentials and the TCP-only calls ---- */

TEST(unix_peer_credentials) {
    tmp_dir t;
    tmp_dir_make(&t);
    server srv;
    unix_server_start(&srv, t.addr, NULL);
    recorder cli;
    recorder_init(&cli);
    sack_tcp *c = unix_client_open(&cli, t.addr, NULL);
    WAIT_UNTIL(cli.readies == 1 && srv.n_conns == 1 && srv.conns[0].readies == 1);
    int32_t pid = 0;
    uint32_t uid = 1, gid = 1;
    CHECK_OK(sack_tcp_get_peer_credentials(srv.conns[0].sock, &pid, &uid, &gid));
    CHECK_EQ(pid, getpid());
    CHECK_EQ(uid, getuid());
    CHECK_EQ(gid, getgid());
    pid = 0;
    CHECK_OK(sack_tcp_get_peer_credentials(c, &pid, &uid, &gid));
    CHECK_EQ(pid, getpid());
    CHECK_RESULT(sack_tcp_get_peer_credentials(srv.listener, &pid, &uid, &gid),
                 SACK_TCP_ERR_NOT_APPLICABLE);
    CHECK_RESULT(sack_tcp_get_peer_credentials(NULL, &pid, &uid, &gid),
                 SACK_TCP_ERR_NULL_POINTER);
    CHECK_RESULT(sack_tcp_get_peer_credentials(c, NULL, &uid, &gid), SACK_TCP_ERR_NULL_POINTER);
    CHECK_RESULT(sack_tcp_get_peer_credentials(c, &pid, &uid, NULL), SACK_TCP_ERR_NULL_POINTER);

    /* The TCP options do not exist on a Unix connection. */
    CHECK_RESULT(sack_tcp_set_no_delay(c, true), SACK_TCP_ERR_NOT_APPLICABLE);
    CHECK_RESULT(sack_tcp_set_keep_alive(c, 1000, 0, 0), SACK_TCP_ERR_NOT_APPLICABLE);
    CHECK_RESULT(sack_tcp_set_user_timeout(c, 1000), SACK_TCP_ERR_NOT_APPLICABLE);
    int32_t fd = -1;
    CHECK_OK(sack_tcp_get_fd(c, &fd));
    CHECK(fd >= 0);

    CHECK_OK(sack_tcp_close(c));
    WAIT_UNTIL(cli.closes == 1 && srv.conns[0].closes == 1);
    pid = 0;
    CHECK_OK(sack_tcp_get_peer_credentials(c, &pid, &uid, &gid)); /* kept after close */
    CHECK_EQ(pid, getpid());
    sack_tcp_free(c);
    recorder_destroy(&cli);
    server_stop(&srv);
    server_destroy(&srv);
    tmp_dir_remove(&t);
}

TEST(unix_peer_credentials_not_on_tcp) {
    server srv;
    server_start(&srv, "127.0.0.1", NULL);
    recorder cli;
    recorder_init(&cli);
    sack_tcp *c = client_open(&cli, "127.0.0.1", srv.port, NULL);
    int32_t pid;
    uint32_t uid, gid;
    /* Before the connect completes, and after: never on TCP. */
    sack_tcp_result early = sack_tcp_get_peer_credentials(c, &pid, &uid, &gid);
    CHECK_EQ(early, SACK_TCP_ERR_NOT_APPLICABLE);
    WAIT_UNTIL(cli.readies == 1);
    CHECK_RESULT(sack_tcp_get_peer_credentials(c, &pid, &uid, &gid), SACK_TCP_ERR_NOT_APPLICABLE);
    CHECK_OK(sack_tcp_close(c));
    WAIT_UNTIL(cli.closes == 1);
    sack_tcp_free(c);
    recorder_destroy(&cli);
    server_stop(&srv);
    server_destroy(&srv);
}

/* ---- the socket file ---- */

/* Leaves a socket file nobody listens on at `path`. */
static void make_stale_socket(const char *path) {
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    struct sockaddr_un a = unix_sockaddr(path);
    CHECK(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
    CHECK(listen(fd, 1) == 0);
    close(fd);
}

TEST(unix_stale_file_replaced) {
    tmp_dir t;
    tmp_dir_make(&t);
    make_stale_socket(t.path);
    echo_round_trip(t.addr, NULL, NULL);
    struct stat st;
    CHECK(lstat(t.path, &st) != 0);
    tmp_dir_remove(&t);
}

TEST(unix_live_path_refused) {
    tmp_dir t;
    tmp_dir_make(&t);
    server srv;
    unix_server_start(&srv, t.addr, NULL);
    srv.echo = true;
    sack_tcp_options o = new_options();
    o.address = t.addr;
    sack_tcp *second = NULL;
    CHECK_RESULT(sack_tcp_open(&o, &second), SACK_TCP_ERR_ADDRESS_IN_USE);
    CHECK(second == NULL);
    /* The first listener still owns its file and still serves. */
    recorder cli;
    recorder_init(&cli);
    sack_tcp *c = unix_client_open(&cli, t.addr, NULL);
    CHECK_OK(sack_tcp_send(c, "still", 5));
    WAIT_UNTIL(cli.data_len == 5);
    CHECK_OK(sack_tcp_close(c));
    WAIT_UNTIL(cli.closes == 1);
    sack_tcp_free(c);
    recorder_destroy(&cli);
    server_stop(&srv);
    server_destroy(&srv);
    tmp_dir_remove(&t);
}

TEST(unix_non_socket_not_clobbered) {
    tmp_dir t;
    tmp_dir_make(&t);
    FILE *f = fopen(t.path, "w");
    CHECK(f != NULL);
    fputs("precious", f);
    fclose(f);
    sack_tcp_options o = new_options();
    o.address = t.addr;
    sack_tcp *s = NULL;
    CHECK_RESULT(sack_tcp_open(&o, &s), SACK_TCP_ERR_ADDRESS_IN_USE);
    CHECK(strstr(sack_tcp_last_error_message(), "not a socket") != NULL);
    char buf[16] = {0};
    f = fopen(t.path, "r");
    CHECK(f != NULL);
    CHECK(fgets(buf, sizeof buf, f) != NULL);
    fclose(f);
    CHECK_STR(buf, "precious");
    tmp_dir_remove(&t);
}

TEST(unix_mode_applied) {
    tmp_dir t;
    tmp_dir_make(&t);
    sack_tcp_options o = new_options();
    o.unix_mode = 0640;
    server srv;
    unix_server_start(&srv, t.addr, &o);
    struct stat st;
    CHECK(lstat(t.path, &st) == 0);
    CHECK_EQ(st.st_mode & 07777, 0640);
    server_stop(&srv);
    server_destroy(&srv);

    /* Only a listener on a path has a file to set. */
    sack_tcp *s = NULL;
    o = new_options();
    o.unix_mode = 0600;
    o.address = "127.0.0.1";
    CHECK_RESULT(sack_tcp_open(&o, &s), SACK_TCP_ERR_NOT_APPLICABLE);
    char name[96];
    abstract_name(name, sizeof name);
    o.address = name;
    CHECK_RESULT(sack_tcp_open(&o, &s), SACK_TCP_ERR_NOT_APPLICABLE);
    o.address = NULL;
    o.to_address = t.addr;
    CHECK_RESULT(sack_tcp_open(&o, &s), SACK_TCP_ERR_NOT_APPLICABLE);
    o = new_options();
    o.address = t.addr;
    o.unix_mode = 010000;
    CHECK_RESULT(sack_tcp_open(&o, &s), SACK_TCP_ERR_INVALID_ARGUMENT);
    CHECK(s == NULL);
    tmp_dir_remove(&t);
}

/* ---- bad addresses and options ---- */

TEST(unix_bad_addresses) {
    sack_tcp_options o = new_options();
    sack_tcp *s = NULL;
    o.address = "unix:";
    CHECK_RESULT(sack_tcp_open(&o, &s), SACK_TCP_ERR_BAD_ADDRESS);
    o.address = "unix:@";
    CHECK_RESULT(sack_tcp_open(&o, &s), SACK_TCP_ERR_BAD_ADDRESS);
    char long_path[160] = "unix:/tmp/";
    memset(long_path + 10, 'x', 110);
    o.address = long_path;
    CHECK_RESULT(sack_tcp_open(&o, &s), SACK_TCP_ERR_BAD_ADDRESS);
    CHECK(strstr(sack_tcp_last_error_message(), "sun_path") != NULL);
    o.address = "unix:/tmp/never-bound.sock";
    o.port = 80;
    CHECK_RESULT(sack_tcp_open(&o, &s), SACK_TCP_ERR_NOT_APPLICABLE);
    o = new_options();
    o.to_address = "unix:/tmp/x.sock";
    o.address = "127.0.0.1";
    CHECK_RESULT(sack_tcp_open(&o, &s), SACK_TCP_ERR_BAD_ADDRESS);
    o.address = NULL;
    o.to_port = 80;
    CHECK_RESULT(sack_tcp_open(&o, &s), SACK_TCP_ERR_NOT_APPLICABLE);
    CHECK(s == NULL);
}

TEST(unix_connect_to_nothing_refused) {
    tmp_dir t;
    tmp_dir_make(&t);
    recorder cli;
    recorder_init(&cli);
    sack_tcp *c = unix_client_open(&cli, t.addr, NULL);
    WAIT_UNTIL(cli.closes == 1);
    CHECK_EQ(cli.connect_status, SACK_TCP_ERR_REFUSED);
    sack_tcp_free(c);
    recorder_destroy(&cli);
    tmp_dir_remove(&t);
}

/* ---- descriptors and third-party peers ---- */

TEST(unix_adopt_fd) {
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    sack_tcp_options o = new_options();
    recorder r;
    recorder_init(&r);
    recorder_options(&r, &o);
    r.echo = true;
    sack_tcp *s = NULL;
    CHECK_OK(sack_tcp_adopt_fd(&o, sv[0], &s));
    raw_write_all(sv[1], "adopted", 7);
    char buf[8];
    raw_read_exact(sv[1], buf, 7, WAIT_MS);
    CHECK(memcmp(buf, "adopted", 7) == 0);
    int32_t pid = 0;
    uint32_t uid, gid;
    CHECK_OK(sack_tcp_get_peer_credentials(s, &pid, &uid, &gid));
    CHECK_EQ(pid, getpid());
    CHECK_RESULT(sack_tcp_set_no_delay(s, false), SACK_TCP_ERR_NOT_APPLICABLE);
    close(sv[1]);
    WAIT_UNTIL(r.closes == 1);
    sack_tcp_free(s);
    recorder_destroy(&r);
}

TEST(unix_python_peer) {
    tmp_dir t;
    tmp_dir_make(&t);
    server srv;
    unix_server_start(&srv, t.addr, NULL);
    srv.echo = true;
    const char *script =
        "import socket, sys\n"
        "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
        "s.settimeout(10)\n"
        "s.connect(sys.argv[1])\n"
        "s.sendall(b'from-python')\n"
        "got = b''\n"
        "while len(got) < 11:\n"
        "    chunk = s.recv(64)\n"
        "    if not chunk: break\n"
        "    got += chunk\n"
        "print('ECHO:' + got.decode())\n";
    char *argv[] = {"python3", "-c", (char *)script, t.path, NULL};
    child p;
    child_spawn(&p, argv);
    int status = child_wait_exit(&p, WAIT_MS);
    if (status != 0) FAIL("python3 exit status %d; it printed:\n%s", status, p.out);
    CHECK(strstr(p.out, "ECHO:from-python") != NULL);
    child_finish(&p);
    WAIT_UNTIL(srv.n_conns == 1 && srv.conns[0].closes == 1);
    server_stop(&srv);
    server_destroy(&srv);
    tmp_dir_remove(&t);
}

/* ---- third-party peers, PROXY headers, a client's bound end, an
 * inherited listener ---- */

/* A raw AF_UNIX client connected to `path` (blocking). */
static int unix_raw_connect(const char *path) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) FAIL("socket: %s", strerror(errno));
    struct sockaddr_un sa = unix_sockaddr(path);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) FAIL("connect %s: %s", path, strerror(errno));
    return fd;
}

/* openssl s_client -unix: a third-party TLS client over a socket file. */
TEST(unix_tls_openssl_s_client) {
    tmp_dir t;
    tmp_dir_make(&t);
    tls_files p = tls_files_load();
    sack_tcp_options so = new_options();
    so.cert = p.cert;
    so.key = p.key;
    server srv;
    unix_server_start(&srv, t.addr, &so);
    srv.echo = true;
    char ca[512];
    cert_path(ca, sizeof ca, "ca.pem");
    char *argv[] = {"openssl", "s_client", "-unix", t.path, "-CAfile", ca, "-servername", "localhost",
                    "-verify_hostname", "localhost", "-verify_return_error", "-quiet", NULL};
    child s;
    child_spawn(&s, argv);
    child_write(&s, "hello-over-a-socket-file\n");
    WAIT_UNTIL(srv.n_conns == 1);
    child_expect(&s, "hello-over-a-socket-file\n", WAIT_MS);
    bool secure = false;
    CHECK_OK(sack_tcp_get_ssl(srv.conns[0].sock, &secure));
    CHECK(secure);
    /* close_notify, then FIN: s_client ends by itself, without an error. */
    CHECK_OK(sack_tcp_close(srv.conns[0].sock));
    int status = child_wait_exit(&s, WAIT_MS);
    if (memmem(s.out, s.out_len, "error", 5) || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        FAIL("s_client exit status %d; it printed:\n%s", status, s.out);
    WAIT_UNTIL(srv.conns[0].closes == 1);
    CHECK_EQ(srv.conns[0].errors, 0);
    child_finish(&s);
    server_stop(&srv);
    server_destroy(&srv);
    tls_files_free(&p);
    tmp_dir_remove(&t);
}

/* openssl s_server -unix as the server, a sack_tcp TLS client to it. */
TEST(unix_tls_client_to_openssl_s_server) {
    tmp_dir t;
    tmp_dir_make(&t);
    char cert[512], key[512];
    cert_path(cert, sizeof cert, "localhost.pem");
    cert_path(key, sizeof key, "localhost.key");
    char *argv[] = {"openssl", "s_server", "-unix", t.path, "-cert", cert, "-key", key, "-quiet", NULL};
    child s;
    child_spawn(&s, argv);
    /* s_server prints nothing before it listens with -quiet: wait for the
     * socket file instead (a real event: the bind made it). */
    long long deadline = harness_now_ms() + WAIT_MS;
    struct stat st;
    while (stat(t.path, &st) != 0 || !S_ISSOCK(st.st_mode)) {
        if (harness_now_ms() > deadline) FAIL("s_server never made %s", t.path);
        child_read(&s, harness_now_ms() + 20);
    }
    tls_files p = tls_files_load();
    sack_tcp_options co = new_options();
    co.ssl = true;
    co.ca = p.ca;
    co.host = "localhost";
    recorder cli;
    recorder_init(&cli);
    sack_tcp *c = unix_client_open(&cli, t.addr, &co);
    WAIT_UNTIL(cli.readies == 1 || cli.closes == 1);
    CHECK_EQ(cli.readies, 1);
    CHECK_OK(sack_tcp_send(c, "from-sack\n", 10));
    child_expect(&s, "from-sack\n", WAIT_MS);
    child_write(&s, "from-openssl\n");
    WAIT_UNTIL(cli.data_len == 13);
    CHECK(memcmp(cli.data, "from-openssl\n", 13) == 0);
    CHECK_OK(sack_tcp_close(c));
    child_finish(&s); /* s_server keeps serving: it is killed */
    WAIT_UNTIL(cli.closes == 1);
    sack_tcp_free(c);
    recorder_destroy(&cli);
    tls_files_free(&p);
    tmp_dir_remove(&t);
}

/* A Unix listener reads PROXY headers as a TCP one does: the address it
 * names is the remote address; a missing header is refused. */
TEST(unix_proxy_protocol) {
    tmp_dir t;
    tmp_dir_make(&t);
    sack_tcp_options so = new_options();
    so.proxy_protocol = true;
    server srv;
    unix_server_start(&srv, t.addr, &so);
    srv.echo = true;
    int a = unix_raw_connect(t.path);
    raw_write_all(a, "PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\r\nhi", 47);
    WAIT_UNTIL(srv.n_conns == 1 && srv.conns[0].readies == 1);
    check_address(srv.conns[0].sock, false, "192.0.2.1");
    uint16_t port = 0;
    CHECK_OK(sack_tcp_get_remote_port(srv.conns[0].sock, &port));
    CHECK_EQ(port, 56324);
    char echo[2];
    raw_read_exact(a, echo, 2, WAIT_MS);
    CHECK(memcmp(echo, "hi", 2) == 0);
    int b = unix_raw_connect(t.path);
    raw_write_all(b, "GET / HTTP/1.0\r\n\r\n", 18);
    WAIT_UNTIL(srv.rec.errors == 1);
    CHECK_EQ(srv.rec.error_code, SACK_TCP_ERR_PROXY_HEADER);
    close(a);
    close(b);
    WAIT_UNTIL(srv.conns[0].closes == 1);
    harness_lock();
    CHECK_EQ(srv.n_conns, 1);
    harness_unlock();
    server_stop(&srv);
    server_destroy(&srv);
    tmp_dir_remove(&t);
}

/* A client binding its own end: both sides report that path. The library
 * removes only files of listeners it bound; a client's bound file stays
 * and is the host's to remove (as with libuv's pipes). */
TEST(unix_client_binds_its_own_end) {
    tmp_dir t;
    tmp_dir_make(&t);
    char client_path[128], client_addr[160];
    snprintf(client_path, sizeof client_path, "%s/client.sock", t.dir);
    snprintf(client_addr, sizeof client_addr, "unix:%s", client_path);
    server srv;
    unix_server_start(&srv, t.addr, NULL);
    srv.echo = true;
    sack_tcp_options co = new_options();
    co.address = client_addr;
    recorder cli;
    recorder_init(&cli);
    sack_tcp *c = unix_client_open(&cli, t.addr, &co);
    WAIT_UNTIL(cli.readies == 1 && srv.n_conns == 1 && srv.conns[0].readies == 1);
    check_address(c, true, client_addr);
    check_address(c, false, t.addr);
    check_address(srv.conns[0].sock, false, client_addr);
    check_address(srv.conns[0].sock, true, t.addr);
    CHECK_OK(sack_tcp_send(c, "x", 1));
    WAIT_UNTIL(cli.data_len == 1);
    CHECK_OK(sack_tcp_close(c));
    WAIT_UNTIL(cli.closes == 1 && srv.conns[0].closes == 1);
    sack_tcp_free(c);
    recorder_destroy(&cli);
    server_stop(&srv);
    server_destroy(&srv);
    struct stat st;
    bool left = stat(client_path, &st) == 0;
    if (left) unlink(client_path);
    CHECK(left); /* documented: the host removes a client's bound file */
    tmp_dir_remove(&t);
}

/* A listening AF_UNIX descriptor made by the host (as a service manager
 * hands over): served, its address reported, and its file left alone. */
TEST(unix_inherited_listener) {
    tmp_dir t;
    tmp_dir_make(&t);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0);
    struct sockaddr_un sa = unix_sockaddr(t.path);
    CHECK_EQ(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    CHECK_EQ(listen(fd, 16), 0);
    server srv;
    memset(&srv, 0, sizeof srv);
    recorder_init(&srv.rec);
    sack_tcp_options o = new_options();
    recorder_options(&srv.rec, &o);
    o.on_connect = server_on_connect;
    o.user_data = &srv;
    srv.echo = true;
    CHECK_OK(sack_tcp_open_listener_fd(&o, fd, &srv.listener));
    check_address(srv.listener, true, t.addr);
    recorder cli;
    recorder_init(&cli);
    sack_tcp *c = unix_client_open(&cli, t.addr, NULL);
    CHECK_OK(sack_tcp_send(c, "inherited", 9));
    WAIT_UNTIL(cli.data_len == 9);
    CHECK(memcmp(cli.data, "inherited", 9) == 0);
    CHECK_OK(sack_tcp_close(c));
    WAIT_UNTIL(cli.closes == 1 && srv.conns[0].closes == 1);
    sack_tcp_free(c);
    recorder_destroy(&cli);
    server_stop(&srv);
    server_destroy(&srv);
    struct stat st;
    CHECK_EQ(stat(t.path, &st), 0); /* not ours to remove */
    CHECK(S_ISSOCK(st.st_mode));
    tmp_dir_remove(&t);
}

/* The rest of the PROXY protocol on a Unix listener, as over TCP: a
 * version 2 header (its 16-byte head split over two sends, data behind it
 * in the same send) names the client; the peer credentials stay those of
 * the real peer (SO_PEERCRED: this process), whatever the header says. A
 * v2 LOCAL and a v1 UNKNOWN header (health checks) keep the socket's own
 * addresses: "unix:" for an unnamed client end, port 0. Refused with
 * SACK_TCP_ERR_PROXY_HEADER, the host never seeing them: a v2 header
 * naming AF_UNIX addresses (only TCP over IPv4 and IPv6 is accepted, as
 * documented) and a malformed v1 header (a port out of range). */
TEST(unix_proxy_protocol_v2_local_and_refusals) {
    tmp_dir t;
    tmp_dir_make(&t);
    sack_tcp_options so = new_options();
    so.proxy_protocol = true;
    server srv;
    unix_server_start(&srv, t.addr, &so);
    srv.echo = true;
    uint16_t port = 1;

    /* v2 PROXY, TCP over IPv4: 192.0.2.1:56324 -> 198.51.100.1:443. */
    unsigned char v2[16 + 12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51,
                                 0x55, 0x49, 0x54, 0x0A, 0x21, 0x11, 0x00, 12,
                                 192,  0,    2,    1,    198,  51,   100,  1,
                                 56324 >> 8, 56324 & 0xff, 443 >> 8, 443 & 0xff};
    unsigned char v2_then_data[sizeof v2 + 2];
    memcpy(v2_then_data, v2, sizeof v2);
    memcpy(v2_then_data + sizeof v2, "v2", 2);
    int a = unix_raw_connect(t.path);
    raw_write_all(a, v2_then_data, 9);
    raw_write_all(a, v2_then_data + 9, sizeof v2_then_data - 9);
    WAIT_UNTIL(srv.n_conns == 1 && srv.conns[0].readies == 1);
    check_address(srv.conns[0].sock, false, "192.0.2.1");
    CHECK_OK(sack_tcp_get_remote_port(srv.conns[0].sock, &port));
    CHECK_EQ(port, 56324);
    check_address(srv.conns[0].sock, true, t.addr);
    int32_t pid = 0;
    uint32_t uid = 1, gid = 1;
    CHECK_OK(sack_tcp_get_peer_credentials(srv.conns[0].sock, &pid, &uid, &gid));
    CHECK_EQ(pid, getpid());
    CHECK_EQ(uid, getuid());
    char echo[2];
    raw_read_exact(a, echo, 2, WAIT_MS);
    CHECK(memcmp(echo, "v2", 2) == 0);

    /* v2 LOCAL: the socket's own addresses stand. */
    unsigned char local[16 + 2] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55,
                                   0x49, 0x54, 0x0A, 0x20, 0x00, 0x00, 0x00, 'l',  'c'};
    int b = unix_raw_connect(t.path);
    raw_write_all(b, local, sizeof local);
    WAIT_UNTIL(srv.n_conns == 2 && srv.conns[1].readies == 1);
    check_address(srv.conns[1].sock, false, "unix:");
    port = 1;
    CHECK_OK(sack_tcp_get_remote_port(srv.conns[1].sock, &port));
    CHECK_EQ(port, 0);
    raw_read_exact(b, echo, 2, WAIT_MS);
    CHECK(memcmp(echo, "lc", 2) == 0);

    /* v1 UNKNOWN: the same. */
    int c = unix_raw_connect(t.path);
    raw_write_all(c, "PROXY UNKNOWN\r\nuk", 17);
    WAIT_UNTIL(srv.n_conns == 3 && srv.conns[2].readies == 1);
    check_address(srv.conns[2].sock, false, "unix:");
    raw_read_exact(c, echo, 2, WAIT_MS);
    CHECK(memcmp(echo, "uk", 2) == 0);

    /* v2 naming AF_UNIX addresses (family 0x31, two 108-byte paths):
     * refused, and the connection ends. */
    unsigned char v2_unix[16 + 216];
    memset(v2_unix, 0, sizeof v2_unix);
    memcpy(v2_unix, v2, 12);
    v2_unix[12] = 0x21, v2_unix[13] = 0x31, v2_unix[14] = 216 >> 8, v2_unix[15] = 216 & 0xff;
    memcpy(v2_unix + 16, "/run/proxied.sock", 17);
    memcpy(v2_unix + 16 + 108, "/run/front.sock", 15);
    int d = unix_raw_connect(t.path);
    raw_write_all(d, v2_unix, sizeof v2_unix);
    WAIT_UNTIL(srv.rec.errors == 1);
    CHECK_EQ(srv.rec.error_code, SACK_TCP_ERR_PROXY_HEADER);
    struct pollfd p = {.fd = d, .events = POLLIN};
    CHECK_EQ(poll(&p, 1, WAIT_MS), 1);
    char byte;
    ssize_t got = recv(d, &byte, 1, 0);
    CHECK(got == 0 || (got == -1 && errno == ECONNRESET));

    /* Malformed v1: a source port out of range. */
    int e = unix_raw_connect(t.path);
    raw_write_all(e, "PROXY TCP4 192.0.2.1 198.51.100.1 99999 443\r\n", 45);
    WAIT_UNTIL(srv.rec.errors == 2);
    CHECK_EQ(srv.rec.error_code, SACK_TCP_ERR_PROXY_HEADER);
    p.fd = e;
    CHECK_EQ(poll(&p, 1, WAIT_MS), 1);
    got = recv(e, &byte, 1, 0);
    CHECK(got == 0 || (got == -1 && errno == ECONNRESET));
    harness_lock();
    CHECK_EQ(srv.n_conns, 3);
    harness_unlock();

    int fds[] = {a, b, c, d, e};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++) close(fds[i]);
    WAIT_UNTIL(srv.conns[0].closes == 1 && srv.conns[1].closes == 1 && srv.conns[2].closes == 1);
    server_stop(&srv);
    server_destroy(&srv);
    tmp_dir_remove(&t);
}

/* What the host owning a client's bound file means in practice: a second
 * client binding the same path while the first one's file is still there
 * fails its connect with SACK_TCP_ERR_ADDRESS_IN_USE (the library does not
 * clear a client's path as it clears a listener's stale one), and once the
 * host removes the file the same address binds again. A connect that
 * fails after the bind leaves the file as well. An abstract name
 * needs no removal: both sides report it, and the next client may reuse
 * it as soon as the first one is closed. */
TEST(unix_client_bound_path_reuse_and_abstract) {
    tmp_dir t;
    tmp_dir_make(&t);
    char client_path[128], client_addr[160];
    snprintf(client_path, sizeof client_path, "%s/client.sock", t.dir);
    snprintf(client_addr, sizeof client_addr, "unix:%s", client_path);
    server srv;
    unix_server_start(&srv, t.addr, NULL);
    srv.echo = true;
    sack_tcp_options co = new_options();
    co.address = client_addr;

    recorder first;
    recorder_init(&first);
    sack_tcp *c1 = unix_client_open(&first, t.addr, &co);
    WAIT_UNTIL(first.readies == 1 && srv.n_conns == 1);
    CHECK_OK(sack_tcp_close(c1));
    WAIT_UNTIL(first.closes == 1 && srv.conns[0].closes == 1);
    struct stat st;
    CHECK_EQ(stat(client_path, &st), 0);
    CHECK(S_ISSOCK(st.st_mode));

    recorder second;
    recorder_init(&second);
    sack_tcp *c2 = unix_client_open(&second, t.addr, &co);
    WAIT_UNTIL(second.closes == 1);
    CHECK_EQ(second.readies, 0);
    CHECK_EQ(second.connect_status, SACK_TCP_ERR_ADDRESS_IN_USE);
    harness_lock();
    CHECK_EQ(srv.n_conns, 1);
    harness_unlock();

    CHECK_EQ(unlink(client_path), 0);
    recorder third;
    recorder_init(&third);
    sack_tcp *c3 = unix_client_open(&third, t.addr, &co);
    CHECK_OK(sack_tcp_send(c3, "again", 5));
    WAIT_UNTIL(third.data_len == 5);
    CHECK(memcmp(third.data, "again", 5) == 0);
    check_address(c3, true, client_addr);
    CHECK_OK(sack_tcp_close(c3));
    WAIT_UNTIL(third.closes == 1 && srv.n_conns == 2 && srv.conns[1].closes == 1);
    CHECK_EQ(unlink(client_path), 0);

    /* A connect that fails after the bind (nothing at the target): the
     * bound file stays too. */
    char nowhere[160];
    snprintf(nowhere, sizeof nowhere, "unix:%s/nobody.sock", t.dir);
    recorder fourth;
    recorder_init(&fourth);
    sack_tcp *c4 = unix_client_open(&fourth, nowhere, &co);
    WAIT_UNTIL(fourth.closes == 1);
    CHECK_EQ(fourth.connect_status, SACK_TCP_ERR_REFUSED);
    bool left = stat(client_path, &st) == 0;
    if (left) unlink(client_path);
    CHECK(left); /* as documented: the host removes a client's bound file */

    char name[64];
    abstract_name(name, sizeof name);
    co.address = name;
    for (int round = 0; round < 2; round++) {
        recorder r;
        recorder_init(&r);
        sack_tcp *c = unix_client_open(&r, t.addr, &co);
        WAIT_UNTIL(r.readies == 1 && srv.n_conns == 3 + round && srv.conns[2 + round].readies == 1);
        check_address(c, true, name);
        check_address(srv.conns[2 + round].sock, false, name);
        CHECK_OK(sack_tcp_close(c));
        WAIT_UNTIL(r.closes == 1 && srv.conns[2 + round].closes == 1);
        CHECK_EQ(r.errors, 0);
        sack_tcp_free(c);
        recorder_destroy(&r);
    }

    sack_tcp_free(c1);
    sack_tcp_free(c2);
    sack_tcp_free(c3);
    sack_tcp_free(c4);
    recorder_destroy(&first);
    recorder_destroy(&second);
    recorder_destroy(&third);
    recorder_destroy(&fourth);
    server_stop(&srv);
    server_destroy(&srv);
    tmp_dir_remove(&t);
}

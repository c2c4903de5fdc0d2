/* A TLS echo server with several certificates, chosen by the name each
 * client asks for (SNI), and one more added while it runs (addCert).
 *
 * Usage: sack_tcp_tls_sni_server --cert FILE --key FILE [--host NAMES]
 *                                [--sni NAMES=CERT,KEY]...
 *                                [--add-after N NAMES=CERT,KEY]
 *                                [--address ADDR] [--port N]
 *                                [--max-connections N]
 *
 *   --cert FILE, --key FILE   the default certificate (PEM chain, leaf
 *                             first) and its key: served to clients that
 *                             ask for no name or for one nothing else serves
 *   --host NAMES              the names the default certificate is for
 *   --sni NAMES=CERT,KEY      another certificate, for NAMES (repeatable)
 *   --add-after N NAMES=CERT,KEY
 *                             once N connections have closed, add this
 *                             certificate to the running server with
 *                             sack_tcp_add_cert; new handshakes use it
 *   --address ADDR            where to listen (default 127.0.0.1)
 *   --port N                  the port (default 0: the OS picks one)
 *   --max-connections N       exit once N connections have closed (default:
 *                             run until SIGINT or SIGTERM)
 *
 * NAMES is one name or several joined by '~'; a name may be a wildcard
 * such as "*.example.com". Prints "listening on PORT", then a line per
 * event, and "added certificate for NAMES" when the --add-after one is in. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "example_util.h"
#include "sack_tcp.h"

#define MAX_SNI 16

/* A certificate given as NAMES=CERT,KEY, loaded into memory. */
typedef struct {
    char *names;
    char *cert; /* PEM text */
    char *key;  /* PEM text */
} certificate;

typedef struct {
    char peer[SACK_TCP_ADDRESS_MAX + 8];
    unsigned long long bytes;
} connection;

static long max_connections; /* 0: no limit */
static long add_after;       /* 0: nothing to add */
static certificate to_add;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static sack_tcp *listener;      /* guarded by lock; set once open */
static long closed_connections; /* guarded by lock */

/* Parses "NAMES=CERT_FILE,KEY_FILE" and loads both files. */
static bool load_certificate(const char *spec, certificate *out) {
    const char *eq = strchr(spec, '=');
    const char *comma = eq ? strrchr(eq, ',') : NULL;
    if (eq == NULL || eq == spec || comma == NULL || comma == eq + 1 || comma[1] == '\0') {
        fprintf(stderr, "expected NAMES=CERT,KEY, got \"%s\"\n", spec);
        return false;
    }
    char *names = strndup(spec, (size_t)(eq - spec));
    char *cert_path = strndup(eq + 1, (size_t)(comma - eq - 1));
    char *cert = read_file(cert_path);
    char *key = read_file(comma + 1);
    if (cert == NULL) fprintf(stderr, "cannot read %s\n", cert_path);
    if (key == NULL) fprintf(stderr, "cannot read %s\n", comma + 1);
    free(cert_path);
    if (names == NULL || cert == NULL || key == NULL) {
        free(names);
        free(cert);
        free(key);
        return false;
    }
    out->names = names;
    out->cert = cert;
    out->key = key;
    return true;
}

static void free_certificate(certificate *c) {
    free(c->names);
    free(c->cert);
    free(c->key);
    memset(c, 0, sizeof *c);
}

static void describe_peer(sack_tcp *conn, char *out, size_t size) {
    char ip[SACK_TCP_ADDRESS_MAX] = "?";
    uint16_t port = 0;
    sack_tcp_get_remote_address(conn, ip, sizeof ip);
    sack_tcp_get_remote_port(conn, &port);
    snprintf(out, size, strchr(ip, ':') ? "[%s]:%u" : "%s:%u", ip, (unsigned)port);
}

/* The handshake is done: from here on the connection is encrypted. */
static void conn_ready(void *ud, sack_tcp *conn) {
    connection *c = ud;
    (void)conn;
    printf("TLS handshake done with %s\n", c->peer);
}

static void conn_message(void *ud, sack_tcp *conn, const uint8_t *data, size_t len) {
    connection *c = ud;
    if (sack_tcp_send(conn, data, len) == SACK_TCP_OK) c->bytes += len;
}

static void conn_error(void *ud, sack_tcp *conn, sack_tcp_result code, const char *message,
                       const uint8_t *data, size_t len) {
    connection *c = ud;
    (void)conn;
    (void)data;
    (void)len;
    /* Positive codes are TLS problems: e.g. SACK_TCP_TLS_HANDSHAKE_FAILED
     * when the client rejected our certificate or spoke no TLS. */
    printf("error on %s: %s (%d): %s\n", c->peer, sack_tcp_error_name(code), (int)code, message);
}

/* Adds the --add-after certificate to the running listener. */
static void add_certificate(sack_tcp *server, long after) {
    sack_tcp_result r = sack_tcp_add_cert(server, to_add.names, to_add.cert, to_add.key, NULL);
    if (r == SACK_TCP_OK)
        printf("added certificate for %s after %ld connection%s\n", to_add.names, after,
               after == 1 ? "" : "s");
    else
        printf("cannot add certificate for %s: %s\n", to_add.names,
               sack_tcp_last_error_message());
}

static void conn_close(void *ud, sack_tcp *conn) {
    connection *c = ud;
    printf("closed %s (%llu bytes echoed)\n", c->peer, c->bytes);
    free(c);
    sack_tcp_free(conn);

    pthread_mutex_lock(&lock);
    long closed = ++closed_connections;
    /* Any thread, callbacks included, may call sack_tcp_add_cert. */
    if (closed == add_after && listener != NULL) add_certificate(listener, closed);
    pthread_mutex_unlock(&lock);
    if (closed == max_connections) example_stop();
}

static void server_connect(void *ud, sack_tcp *conn, sack_tcp_result status) {
    (void)ud;
    (void)status;
    connection *c = calloc(1, sizeof *c);
    if (c == NULL) {
        sack_tcp_abort(conn);
        sack_tcp_free(conn);
        return;
    }
    describe_peer(conn, c->peer, sizeof c->peer);
    printf("connection from %s\n", c->peer);
    sack_tcp_set_user_data(conn, c);
    sack_tcp_on_ready(conn, conn_ready);
    sack_tcp_on_message(conn, conn_message);
    sack_tcp_on_error(conn, conn_error);
    sack_tcp_on_close(conn, conn_close);
}

static int usage(const char *program) {
    fprintf(stderr,
            "usage: %s --cert FILE --key FILE [--host NAMES] [--sni NAMES=CERT,KEY]...\n"
            "       [--add-after N NAMES=CERT,KEY] [--address ADDR] [--port N]\n"
            "       [--max-connections N]\n"
            "  --cert, --key      default certificate chain and key (PEM)\n"
            "  --host NAMES       names of the default certificate ('~'-separated)\n"
            "  --sni NAMES=CERT,KEY\n"
            "                     another certificate, chosen by SNI (repeatable)\n"
            "  --add-after N NAMES=CERT,KEY\n"
            "                     add this certificate once N connections closed\n"
            "  --address ADDR     listen address (default 127.0.0.1)\n"
            "  --port N           port, 0 picks a free one (default 0)\n"
            "  --max-connections N\n"
            "                     exit after N connections closed (default: run\n"
            "                     until SIGINT/SIGTERM)\n",
            program);
    return 2;
}

int main(int argc, char **argv) {
    const char *cert_file = NULL, *key_file = NULL, *host = NULL;
    const char *address = "127.0.0.1";
    const char *sni_specs[MAX_SNI];
    size_t sni_count = 0;
    const char *add_spec = NULL;
    long port = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(arg, "--cert") == 0 && value) {
            cert_file = argv[++i];
        } else if (strcmp(arg, "--key") == 0 && value) {
            key_file = argv[++i];
        } else if (strcmp(arg, "--host") == 0 && value) {
            host = argv[++i];
        } else if (strcmp(arg, "--sni") == 0 && value && sni_count < MAX_SNI) {
            sni_specs[sni_count++] = argv[++i];
        } else if (strcmp(arg, "--add-after") == 0 && value && i + 2 < argc &&
                   parse_number(value, 1, 1000000000L, &add_after)) {
            add_spec = argv[i + 2];
            i += 2;
        } else if (strcmp(arg, "--address") == 0 && value) {
            address = argv[++i];
        } else if (strcmp(arg, "--port") == 0 && value && parse_number(value, 0, 65535, &port)) {
            i++;
        } else if (strcmp(arg, "--max-connections") == 0 && value &&
                   parse_number(value, 1, 1000000000L, &max_connections)) {
            i++;
        } else {
            return usage(argv[0]);
        }
    }
    if (cert_file == NULL || key_file == NULL) return usage(argv[0]);

    /* Load every certificate before opening anything. */
    int status = 1;
    certificate sni[MAX_SNI];
    sack_tcp_tls_host hosts[MAX_SNI];
    size_t loaded = 0;
    char *cert = read_file(cert_file);
    char *key = read_file(key_file);
    if (cert == NULL || key == NULL) {
        fprintf(stderr, "cannot read %s or %s\n", cert_file, key_file);
        goto out;
    }
    for (; loaded < sni_count; loaded++) {
        if (!load_certificate(sni_specs[loaded], &sni[loaded])) goto out;
        hosts[loaded].host = sni[loaded].names;
        hosts[loaded].cert = sni[loaded].cert;
        hosts[loaded].key = sni[loaded].key;
        hosts[loaded].passphrase = NULL;
    }
    if (add_spec != NULL && !load_certificate(add_spec, &to_add)) goto out;

    example_catch_stop_signals();

    sack_tcp_options o;
    sack_tcp_options_init(&o);
    o.address = address;
    o.port = (int32_t)port;
    o.cert = cert; /* a certificate makes the listener a TLS server */
    o.key = key;
    o.host = host; /* may be NULL: the default certificate serves any name */
    o.hosts = hosts;
    o.hosts_count = sni_count;
    o.on_connect = server_connect;
    sack_tcp *server = NULL;
    if (sack_tcp_open(&o, &server) != SACK_TCP_OK) {
        fprintf(stderr, "cannot listen: %s\n", sack_tcp_last_error_message());
        goto out;
    }
    /* sack_tcp_open copied the certificates; the SNI ones can go now. */
    for (size_t k = 0; k < loaded; k++) free_certificate(&sni[k]);
    loaded = 0;

    pthread_mutex_lock(&lock);
    listener = server;
    pthread_mutex_unlock(&lock);
    example_print_port(server);

    example_wait_for_stop();

    pthread_mutex_lock(&lock);
    listener = NULL; /* no more additions from the close callbacks */
    pthread_mutex_unlock(&lock);
    size_t left = 0;
    bool ok = example_shutdown(server, &left);
    printf("served %ld connections, %zu handles left\n", closed_connections, left);
    status = ok && left == 0 ? 0 : 1;

out:
    for (size_t k = 0; k < loaded; k++) free_certificate(&sni[k]);
    free_certificate(&to_add);
    free(cert);
    free(key);
    return status;
}

/* One process, two TLS stacks: libsack_tcp.a (rustls on aws-lc, whose
 * symbols are prefixed) linked statically together with OpenSSL's libssl
 * and libcrypto. A sack_tcp TLS echo server on 127.0.0.1 port 0, and an
 * OpenSSL client in the same process that verifies it against the test CA,
 * sends a line and reads it back; libcrypto also hashes it. If the two
 * crypto libraries' symbols clashed, the link would fail or one of them
 * would call into the other and the handshake or the hash would go wrong.
 *
 * Usage: openssl_static CERT_DIR (c_tests' certificates: ca.pem,
 * localhost.pem, localhost.key). Prints "ok" and exits 0 on success. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <sack_tcp.h>

static int failed(const char *what) {
    fprintf(stderr, "openssl_static: %s failed\n", what);
    ERR_print_errors_fp(stderr);
    return 1;
}

static char *read_file(const char *dir, const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    static char bufs[2][16384];
    static int next;
    char *buf = bufs[next++ % 2];
    size_t n = fread(buf, 1, sizeof bufs[0] - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

/* The echo: whatever a connection receives goes back. */
static void on_message(void *ud, sack_tcp *conn, const uint8_t *data, size_t len) {
    (void)ud;
    sack_tcp_send(conn, data, len);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: openssl_static CERT_DIR\n");
        return 2;
    }
    const char *dir = argv[1];
    char ca_path[1024];
    snprintf(ca_path, sizeof ca_path, "%s/ca.pem", dir);

    /* The sack_tcp server (rustls, aws-lc). */
    sack_tcp_options o;
    if (sack_tcp_options_init(&o) != SACK_TCP_OK) return failed("sack_tcp_options_init");
    o.address = "127.0.0.1";
    o.port = 0;
    o.cert = read_file(dir, "localhost.pem");
    o.key = read_file(dir, "localhost.key");
    if (!o.cert || !o.key) return failed("reading localhost.pem/.key");
    o.on_message = on_message;
    sack_tcp *server = NULL;
    if (sack_tcp_open(&o, &server) != SACK_TCP_OK) {
        fprintf(stderr, "sack_tcp_open: %s\n", sack_tcp_last_error_message());
        return 1;
    }
    uint16_t port = 0;
    if (sack_tcp_get_local_port(server, &port) != SACK_TCP_OK) return failed("get_local_port");

    /* The OpenSSL client, on a plain blocking socket with a time limit. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) return failed("connect");

    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) return failed("SSL_CTX_new");
    if (SSL_CTX_load_verify_locations(ctx, ca_path, NULL) != 1) return failed("load CA");
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, "localhost");
    SSL_set1_host(ssl, "localhost");
    if (SSL_connect(ssl) != 1) return failed("SSL_connect (handshake with sack_tcp)");
    if (SSL_get_verify_result(ssl) != X509_V_OK) return failed("certificate verification");
    printf("handshake %s %s\n", SSL_get_version(ssl), SSL_get_cipher_name(ssl));

    const char line[] = "two TLS stacks in one process\n";
    if (SSL_write(ssl, line, (int)strlen(line)) != (int)strlen(line)) return failed("SSL_write");
    char got[sizeof line];
    size_t have = 0;
    while (have < strlen(line)) {
        int n = SSL_read(ssl, got + have, (int)(strlen(line) - have));
        if (n <= 0) return failed("SSL_read");
        have += (size_t)n;
    }
    if (memcmp(got, line, strlen(line)) != 0) return failed("echo comparison");

    /* libcrypto on its own: SHA-256 of the line, against a known digest. */
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (EVP_Digest(line, strlen(line), md, &md_len, EVP_sha256(), NULL) != 1 || md_len != 32)
        return failed("EVP_Digest");
    unsigned char md2[EVP_MAX_MD_SIZE];
    unsigned int md2_len = 0;
    EVP_Digest(got, have, md2, &md2_len, EVP_sha256(), NULL);
    if (md2_len != md_len || memcmp(md, md2, md_len) != 0) return failed("digest comparison");

    SSL_shutdown(ssl);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(fd);

    sack_tcp_close(server);
    sack_tcp_free(server);
    if (sack_tcp_shutdown() != SACK_TCP_OK) return failed("sack_tcp_shutdown");
    if (sack_tcp_live_handles() != 0) return failed("live handles after shutdown");
    printf("ok\n");
    return 0;
}

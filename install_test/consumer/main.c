/* Uses an installed sack_tcp: prints the library's and the header's
 * version, opens a listener on 127.0.0.1 port 0, reads back the port the
 * system chose, closes it and shuts the library down. The install test
 * checks what it prints. */
#include <stdio.h>

#include <sack_tcp.h>

static int fail(const char *what, sack_tcp_result rc) {
    fprintf(stderr, "%s: %s (%s)\n", what, sack_tcp_error_name(rc),
            sack_tcp_last_error_message());
    return 1;
}

int main(void) {
    printf("library version %s\n", sack_tcp_version_string());
    printf("header version %s\n", SACK_TCP_VERSION_STRING);
    if (sack_tcp_version() != SACK_TCP_VERSION_NUMBER) {
        fprintf(stderr, "library %u but header %u\n", (unsigned)sack_tcp_version(),
                (unsigned)SACK_TCP_VERSION_NUMBER);
        return 1;
    }
#ifdef SACK_TCP_STATIC
    printf("linkage static\n");
#else
    printf("linkage shared\n");
#endif

    sack_tcp_options o;
    sack_tcp_result rc = sack_tcp_options_init(&o);
    if (rc != SACK_TCP_OK) return fail("sack_tcp_options_init", rc);
    o.address = "127.0.0.1";
    o.port = 0;
    sack_tcp *listener = NULL;
    rc = sack_tcp_open(&o, &listener);
    if (rc != SACK_TCP_OK) return fail("sack_tcp_open", rc);
    uint16_t port = 0;
    rc = sack_tcp_get_local_port(listener, &port);
    if (rc != SACK_TCP_OK) return fail("sack_tcp_get_local_port", rc);
    printf("listening on 127.0.0.1:%u\n", (unsigned)port);

    rc = sack_tcp_close(listener);
    if (rc != SACK_TCP_OK) return fail("sack_tcp_close", rc);
    sack_tcp_free(listener);
    rc = sack_tcp_shutdown();
    if (rc != SACK_TCP_OK) return fail("sack_tcp_shutdown", rc);
    printf("live handles after shutdown %zu\n", sack_tcp_live_handles());
    return port != 0 && sack_tcp_live_handles() == 0 ? 0 : 1;
}

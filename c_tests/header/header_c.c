/* The header compiles as strict C (C99 and C11, -Wpedantic) and links. */
#include "sack_tcp.h"

int main(void) {
    sack_tcp_options o;
    if (sack_tcp_options_init(&o) != SACK_TCP_OK) return 1;
    return sack_tcp_version() == SACK_TCP_VERSION_NUMBER ? 0 : 1;
}

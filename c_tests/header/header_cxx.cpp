// The header compiles as C++17 and links; a small RAII wrapper shows the
// intended C++ use (one owner, freed exactly once).
#include <memory>
#include <string>

#include "sack_tcp.h"

namespace {

struct Free {
    void operator()(sack_tcp *s) const noexcept { sack_tcp_free(s); }
};
using Socket = std::unique_ptr<sack_tcp, Free>;

Socket listen_on(const std::string &address) {
    sack_tcp_options o;
    sack_tcp_options_init(&o);
    o.address = address.c_str();
    sack_tcp *raw = nullptr;
    if (sack_tcp_open(&o, &raw) != SACK_TCP_OK) return Socket{};
    return Socket{raw};
}

}  // namespace

int main() {
    Socket server = listen_on("127.0.0.1");
    if (!server) return 1;
    uint16_t port = 0;
    if (sack_tcp_get_local_port(server.get(), &port) != SACK_TCP_OK || port == 0) return 1;
    sack_tcp_close(server.get());
    server.reset();
    if (sack_tcp_shutdown() != SACK_TCP_OK) return 1;
    return sack_tcp_live_handles() == 0 ? 0 : 1;
}

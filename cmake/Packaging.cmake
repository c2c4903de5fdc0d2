# Debian packages through CPack: `cpack -G DEB` (or `cmake --build B --target
# package`) in a build configured with -DCMAKE_INSTALL_PREFIX=/usr writes
#   libsack-tcp0_<version>-<release>_<arch>.deb     the soname'd shared library
#   libsack-tcp-dev_<version>-<release>_<arch>.deb  header, static library,
#                                                  libsack_tcp.so link, .pc
#                                                  files, CMake package
# with dependencies (dpkg-shlibdeps for the runtime package), shlibs and
# symbols control files, and copyright files. install_test/package.cmake
# (ctest: package.deb) builds them, unpacks them into a scratch root with
# dpkg -x and builds consumers against that root only.
#
# Included from CMakeLists.txt when SACK_TCP_INSTALL is on.

set(SACK_TCP_HOMEPAGE "https://example.invalid/sack_tcp" CACHE STRING
    "the project's home page, for package metadata")
set(SACK_TCP_MAINTAINER "sack_tcp maintainers <maintainers@example.invalid>" CACHE STRING
    "package maintainer, for package metadata")
set(SACK_TCP_DEB_RELEASE 1 CACHE STRING "Debian revision of the packages")

set(sack_tcp_runtime_pkg "libsack-tcp${PROJECT_VERSION_MAJOR}")
set(sack_tcp_dev_pkg "libsack-tcp-dev")
set(sack_tcp_deb_version "${PROJECT_VERSION}-${SACK_TCP_DEB_RELEASE}")

# Debian's copyright files (machine-readable format), one per package.
set(sack_tcp_copyright "${PROJECT_BINARY_DIR}/packaging/copyright")
file(WRITE "${sack_tcp_copyright}"
"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: sack_tcp
Source: ${SACK_TCP_HOMEPAGE}

Files: *
Copyright: sack_tcp contributors
License: MIT
 Permission is hereby granted, free of charge, to any person obtaining a copy
 of this software and associated documentation files (the \"Software\"), to deal
 in the Software without restriction, including without limitation the rights
 to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
 copies of the Software, and to permit persons to whom the Software is
 furnished to do so, subject to the following conditions:
 .
 The above copyright notice and this permission notice shall be included in
 all copies or substantial portions of the Software.
 .
 THE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
 IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
 FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
 AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
 LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
 OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
 SOFTWARE.
 .
 The library links Rust crates (tokio, rustls, aws-lc-rs and others) under
 their own MIT, Apache-2.0, ISC and OpenSSL-style licenses; see Cargo.lock.
")
install(FILES "${sack_tcp_copyright}"
    DESTINATION "${CMAKE_INSTALL_DATAROOTDIR}/doc/${sack_tcp_runtime_pkg}" COMPONENT Runtime)
install(FILES "${sack_tcp_copyright}"
    DESTINATION "${CMAKE_INSTALL_DATAROOTDIR}/doc/${sack_tcp_dev_pkg}" COMPONENT Development)

# The symbols file of the runtime package: every function the header
# declares (the library exports exactly these; symbols.exports checks it).
file(STRINGS "${PROJECT_SOURCE_DIR}/include/sack_tcp.h" sack_tcp_decls
    REGEX "^[A-Za-z_][A-Za-z0-9_ ]*[ *]sack_tcp_[a-z0-9_]+\\(")
set(sack_tcp_symbols "${SACK_TCP_SONAME} ${sack_tcp_runtime_pkg} #MINVER#\n")
set(sack_tcp_symbol_names "")
foreach(decl IN LISTS sack_tcp_decls)
    string(REGEX MATCH "sack_tcp_[a-z0-9_]+\\(" name "${decl}")
    string(REPLACE "(" "" name "${name}")
    list(APPEND sack_tcp_symbol_names "${name}")
endforeach()
list(REMOVE_DUPLICATES sack_tcp_symbol_names)
list(SORT sack_tcp_symbol_names)
foreach(name IN LISTS sack_tcp_symbol_names)
    string(APPEND sack_tcp_symbols " ${name}@Base ${PROJECT_VERSION}\n")
endforeach()
file(WRITE "${PROJECT_BINARY_DIR}/packaging/symbols" "${sack_tcp_symbols}")

set(CPACK_PACKAGE_NAME "sack-tcp")
set(CPACK_PACKAGE_VENDOR "sack_tcp")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_CONTACT "${SACK_TCP_MAINTAINER}")
set(CPACK_PACKAGE_HOMEPAGE_URL "${SACK_TCP_HOMEPAGE}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "TCP and TLS sockets for C (sack.vfs Network.TCP)")
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_PACKAGE_DIRECTORY "${PROJECT_BINARY_DIR}/packages")
set(CPACK_COMPONENTS_ALL Runtime Development)
set(CPACK_STRIP_FILES OFF) # already stripped (SACK_TCP_STRIP)

set(CPACK_GENERATOR DEB)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE "${SACK_TCP_DEB_RELEASE}")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${SACK_TCP_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "${SACK_TCP_HOMEPAGE}")
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)

set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME "${sack_tcp_runtime_pkg}")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SHLIBDEPS ON)
# The extended descriptions (the synopsis is CPACK_PACKAGE_DESCRIPTION_SUMMARY).
set(CPACK_DEBIAN_RUNTIME_DESCRIPTION
"Listeners and clients over IPv4 and IPv6, text or binary messages, a
bounded send queue with a drain callback, graceful close, and TLS (rustls)
with SNI, encrypted keys, client verification, TLS/plain on one port and
STARTTLS, behind a small C ABI. This package holds the shared library.")
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")
# (CPack adds the shlibs file and ldconfig to postinst/postrm itself.)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_EXTRA "${PROJECT_BINARY_DIR}/packaging/symbols")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_STRICT_PERMISSION ON)

set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_NAME "${sack_tcp_dev_pkg}")
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_SECTION libdevel)
# The static library needs libc's -lpthread -ldl -lm at link time.
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_DEPENDS "${sack_tcp_runtime_pkg} (= ${sack_tcp_deb_version}), libc6-dev")
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_SUGGESTS "pkgconf | pkg-config, cmake")
set(CPACK_DEBIAN_DEVELOPMENT_DESCRIPTION
"Listeners and clients over IPv4 and IPv6 and TLS (rustls) behind a small C
ABI. This package holds the header sack_tcp.h, the static library, the
pkg-config files (sack_tcp, sack_tcp-static) and the CMake package
(find_package(sack_tcp)).")

if(NOT CMAKE_INSTALL_PREFIX STREQUAL "/usr")
    message(STATUS "sack_tcp: for Debian packages configure with -DCMAKE_INSTALL_PREFIX=/usr "
                   "(the library directory then follows Debian's multiarch layout)")
endif()

include(CPack)

# The Debian packages, end to end (ctest: package.deb). cmake -P with:
#   SOURCE_DIR (the sack_tcp tree), WORK_DIR (scratch), BUILD_TYPE,
#   CARGO_PROFILE, CARGO_TARGET_DIR (the calling build's, so cargo reuses its
#   output), GENERATOR, MAKE_PROGRAM, CC, VERSION, SONAME, REALNAME, READELF,
#   PKG_CONFIG, WERROR
# 1. configures a packaging build (prefix /usr, no tests or examples), builds
#    it and runs cpack -G DEB;
# 2. checks both packages: names, files, dependencies, SONAME, shlibs and
#    symbols, metadata;
# 3. unpacks them with dpkg -x into a scratch root (no dpkg database, no
#    root rights) and builds and runs consumers against that root only:
#    find_package and pkg-config (run.cmake's steps), shared and static.
cmake_minimum_required(VERSION 3.16)

function(run_checked what)
    execute_process(COMMAND ${ARGN}
        RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 600)
    if(NOT rc EQUAL 0)
        string(REPLACE ";" " " cmd "${ARGN}")
        message(FATAL_ERROR "${what} failed (${rc}):\n  ${cmd}\n${out}\n${err}")
    endif()
    set(run_out "${out}" PARENT_SCOPE)
endfunction()

function(expect what text regex)
    if(NOT text MATCHES "${regex}")
        message(FATAL_ERROR "${what}: expected to match '${regex}', got:\n${text}")
    endif()
endfunction()

set(build "${WORK_DIR}/deb-build")
set(root "${WORK_DIR}/deb-root")
file(REMOVE_RECURSE "${build}" "${root}")
set(gen_args -G "${GENERATOR}")
if(MAKE_PROGRAM)
    list(APPEND gen_args -DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM})
endif()
run_checked("packaging configure" ${CMAKE_COMMAND} -S "${SOURCE_DIR}" -B "${build}" ${gen_args}
    -DCMAKE_C_COMPILER=${CC} -DCMAKE_BUILD_TYPE=${BUILD_TYPE} -DCMAKE_INSTALL_PREFIX=/usr
    -DBUILD_TESTING=OFF -DSACK_TCP_BUILD_EXAMPLES=OFF
    -DCARGO_PROFILE=${CARGO_PROFILE} -DCARGO_TARGET_DIR=${CARGO_TARGET_DIR})
run_checked("packaging build" ${CMAKE_COMMAND} --build "${build}")
execute_process(COMMAND ${CMAKE_COMMAND} -E chdir "${build}" cpack -G DEB
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 600)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "cpack -G DEB failed:\n${out}\n${err}")
endif()
message(STATUS "${out}")

file(GLOB runtime_deb "${build}/packages/libsack-tcp0_${VERSION}-*.deb")
file(GLOB dev_deb "${build}/packages/libsack-tcp-dev_${VERSION}-*.deb")
if(NOT runtime_deb OR NOT dev_deb)
    message(FATAL_ERROR "cpack did not write libsack-tcp0 and libsack-tcp-dev:\n${out}")
endif()

# Control fields.
run_checked("dpkg-deb -f runtime" dpkg-deb -f "${runtime_deb}")
set(runtime_ctl "${run_out}")
expect("libsack-tcp0 Package" "${runtime_ctl}" "Package: libsack-tcp0\n")
expect("libsack-tcp0 Section" "${runtime_ctl}" "Section: libs\n")
expect("libsack-tcp0 Depends (dpkg-shlibdeps)" "${runtime_ctl}" "Depends: [^\n]*libc6 \\(>= [0-9.]+\\)")
expect("libsack-tcp0 Homepage" "${runtime_ctl}" "Homepage: [^\n]+\n")
expect("libsack-tcp0 Maintainer" "${runtime_ctl}" "Maintainer: [^\n]+\n")
expect("libsack-tcp0 Description" "${runtime_ctl}" "Description: [^\n]+\n [^\n]+")
run_checked("dpkg-deb -f dev" dpkg-deb -f "${dev_deb}")
set(dev_ctl "${run_out}")
expect("libsack-tcp-dev Section" "${dev_ctl}" "Section: libdevel\n")
string(REPLACE "." "\\." version_re "${VERSION}")
expect("libsack-tcp-dev Depends" "${dev_ctl}" "Depends: [^\n]*libsack-tcp0 \\(= ${version_re}-[0-9]+\\)")
expect("libsack-tcp-dev Depends libc6-dev" "${dev_ctl}" "Depends: [^\n]*libc6-dev")

# shlibs and symbols of the runtime package.
set(ctl "${WORK_DIR}/deb-control")
file(REMOVE_RECURSE "${ctl}")
run_checked("dpkg-deb -e" dpkg-deb -e "${runtime_deb}" "${ctl}")
file(READ "${ctl}/shlibs" shlibs)
expect("shlibs" "${shlibs}" "^libsack_tcp 0 libsack-tcp0 \\(>= ${version_re}")
file(READ "${ctl}/symbols" symbols)
expect("symbols" "${symbols}" "^libsack_tcp\\.so\\.0 libsack-tcp0 #MINVER#\n sack_tcp_")
expect("symbols lists sack_tcp_open" "${symbols}" "\n sack_tcp_open@Base ${version_re}\n")

# Files: the runtime package has the soname'd library and no development
# files; the dev package has the rest.
run_checked("dpkg-deb -c runtime" dpkg-deb -c "${runtime_deb}")
set(runtime_files "${run_out}")
run_checked("dpkg-deb -c dev" dpkg-deb -c "${dev_deb}")
set(dev_files "${run_out}")
expect("runtime files" "${runtime_files}" "/usr/lib/[^ \n]*/${REALNAME}\n")
expect("runtime files" "${runtime_files}" "/usr/lib/[^ \n]*/${SONAME} -> ${REALNAME}\n")
expect("runtime copyright" "${runtime_files}" "/usr/share/doc/libsack-tcp0/copyright\n")
foreach(f "sack_tcp\\.h" "libsack_tcp\\.a" "libsack_tcp\\.so ->" "\\.pc")
    if(runtime_files MATCHES "${f}")
        message(FATAL_ERROR "libsack-tcp0 holds a development file (${f}):\n${runtime_files}")
    endif()
endforeach()
foreach(f "/usr/include/sack_tcp\\.h" "/libsack_tcp\\.a\n" "/libsack_tcp\\.so -> ${SONAME}"
          "/pkgconfig/sack_tcp\\.pc\n" "/pkgconfig/sack_tcp-static\\.pc\n"
          "/cmake/sack_tcp/sack_tcpConfig\\.cmake\n" "/usr/share/doc/libsack-tcp-dev/copyright")
    expect("libsack-tcp-dev files" "${dev_files}" "${f}")
endforeach()
if(dev_files MATCHES "${REALNAME}")
    message(FATAL_ERROR "libsack-tcp-dev holds the runtime library:\n${dev_files}")
endif()

# Unpack both into the scratch root.
file(MAKE_DIRECTORY "${root}")
run_checked("dpkg -x runtime" dpkg -x "${runtime_deb}" "${root}")
run_checked("dpkg -x dev" dpkg -x "${dev_deb}" "${root}")
file(GLOB libdir_guess "${root}/usr/lib/*/${REALNAME}" "${root}/usr/lib/${REALNAME}")
list(GET libdir_guess 0 lib)
get_filename_component(libdir "${lib}" DIRECTORY)
file(RELATIVE_PATH libdir_rel "${root}/usr" "${libdir}")
if(READELF)
    run_checked("readelf" ${READELF} -d "${lib}")
    expect("SONAME of the packaged library" "${run_out}" "\\(SONAME\\)[^\n]*\\[${SONAME}\\]")
endif()

# Consumers against the root only (run.cmake's steps; a relocated prefix).
foreach(step find_package pkg_config)
    run_checked("consumer via ${step}" ${CMAKE_COMMAND}
        -DSTEP=${step} -DSOURCE_DIR=${SOURCE_DIR}/install_test -DWORK_DIR=${WORK_DIR}/deb-consumers
        -DPREFIX=${root}/usr -DLIBDIR=${libdir_rel} -DINCLUDEDIR=include
        -DVERSION=${VERSION} -DSONAME=${SONAME} -DREALNAME=${REALNAME}
        -DREADELF=${READELF} -DPKG_CONFIG=${PKG_CONFIG} -DCC=${CC} -DWERROR=${WERROR}
        "-DGENERATOR=${GENERATOR}" -DMAKE_PROGRAM=${MAKE_PROGRAM} -DRELOCATED=ON
        -P ${SOURCE_DIR}/install_test/run.cmake)
    message(STATUS "${run_out}")
endforeach()
message(STATUS "packages OK: ${runtime_deb} ${dev_deb}")

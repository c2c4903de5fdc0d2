# One step of the install test; see CMakeLists.txt here. cmake -P with:
#   STEP       install | find_package | pkg_config
#   BUILD_DIR  (install) the configured and built sack_tcp build tree
#   CONFIG     (install) the configuration, for multi-config generators
#   PREFIX     the install prefix (inside the build tree)
#   WORK_DIR, SOURCE_DIR, LIBDIR, INCLUDEDIR, VERSION, SONAME, REALNAME,
#   HEADER, READELF, PKG_CONFIG, CC, GENERATOR, MAKE_PROGRAM
#   WERROR     ON: the consumer's warnings are errors (SACK_TCP_WERROR)
#   RELOCATED  ON: the .pc files name another prefix (a package unpacked
#              into a scratch root); pkg-config is told PREFIX with
#              --define-variable and searches only PREFIX's .pc files
cmake_minimum_required(VERSION 3.16)

set(warnings -Wall -Wextra)
if(WERROR)
    list(APPEND warnings -Werror)
endif()

# Every step that runs something is bounded in time.
set(build_timeout 240)
set(run_timeout 30)

function(run_checked what timeout)
    execute_process(COMMAND ${ARGN}
        RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err
        TIMEOUT ${timeout})
    if(NOT rc EQUAL 0)
        string(REPLACE ";" " " cmd "${ARGN}")
        message(FATAL_ERROR "${what} failed (${rc}):\n  ${cmd}\n${out}\n${err}")
    endif()
    set(run_out "${out}" PARENT_SCOPE)
endfunction()

# Runs a consumer and checks what it prints: the installed version, the
# header's version, a port read back from a loopback listener, the linkage.
function(run_consumer what exe linkage)
    run_checked("${what}" ${run_timeout} ${CMAKE_COMMAND} -E env ${ARGN} ${exe})
    message(STATUS "${what}:\n${run_out}")
    foreach(expect
            "library version ${VERSION}\n"
            "header version ${VERSION}\n"
            "linkage ${linkage}\n"
            "live handles after shutdown 0\n")
        string(FIND "${run_out}" "${expect}" at)
        if(at EQUAL -1)
            message(FATAL_ERROR "${what}: expected \"${expect}\" in its output")
        endif()
    endforeach()
    if(NOT run_out MATCHES "listening on 127\\.0\\.0\\.1:[1-9][0-9]*\n")
        message(FATAL_ERROR "${what}: no port read back from the listener")
    endif()
    # A shared consumer needs libsack_tcp.so.MAJOR, found in the prefix; a
    # static one does not need it at all.
    if(READELF)
        run_checked("readelf ${exe}" ${run_timeout} ${READELF} -d ${exe})
        if(linkage STREQUAL "shared" AND NOT run_out MATCHES "\\(NEEDED\\)[^\n]*\\[${SONAME}\\]")
            message(FATAL_ERROR "${what}: ${exe} does not need ${SONAME}:\n${run_out}")
        endif()
        if(linkage STREQUAL "static" AND run_out MATCHES "libsack_tcp")
            message(FATAL_ERROR "${what}: static ${exe} still needs libsack_tcp:\n${run_out}")
        endif()
    endif()
    if(linkage STREQUAL "shared")
        run_checked("ldd ${exe}" ${run_timeout} ${CMAKE_COMMAND} -E env ${ARGN} ldd ${exe})
        string(FIND "${run_out}" "${SONAME} => ${PREFIX}/${LIBDIR}/${SONAME}" at)
        if(at EQUAL -1)
            message(FATAL_ERROR "${what}: ${SONAME} not resolved from the prefix:\n${run_out}")
        endif()
    endif()
endfunction()

set(libdir "${PREFIX}/${LIBDIR}")

if(STEP STREQUAL "install")
    file(REMOVE_RECURSE "${PREFIX}")
    set(config_args "")
    if(CONFIG)
        set(config_args --config ${CONFIG})
    endif()
    run_checked("cmake --install" ${build_timeout}
        ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${PREFIX} ${config_args})
    message(STATUS "${run_out}")

    foreach(f
            "${LIBDIR}/${REALNAME}" "${LIBDIR}/${SONAME}" "${LIBDIR}/libsack_tcp.so"
            "${LIBDIR}/libsack_tcp.a" "${INCLUDEDIR}/sack_tcp.h"
            "${LIBDIR}/pkgconfig/sack_tcp.pc" "${LIBDIR}/pkgconfig/sack_tcp-static.pc"
            "${LIBDIR}/cmake/sack_tcp/sack_tcpConfig.cmake"
            "${LIBDIR}/cmake/sack_tcp/sack_tcpConfigVersion.cmake")
        if(NOT EXISTS "${PREFIX}/${f}")
            message(FATAL_ERROR "not installed: ${f}")
        endif()
    endforeach()
    # The usual chain: libsack_tcp.so -> .so.MAJOR -> .so.MAJOR.MINOR.PATCH
    foreach(pair "libsack_tcp.so=${SONAME}" "${SONAME}=${REALNAME}")
        string(REPLACE "=" ";" pair "${pair}")
        list(GET pair 0 link)
        list(GET pair 1 target)
        if(NOT IS_SYMLINK "${libdir}/${link}")
            message(FATAL_ERROR "${link} is not a symbolic link")
        endif()
        file(READ_SYMLINK "${libdir}/${link}" points_to)
        if(NOT points_to STREQUAL target)
            message(FATAL_ERROR "${link} -> ${points_to}, expected -> ${target}")
        endif()
    endforeach()
    if(IS_SYMLINK "${libdir}/${REALNAME}")
        message(FATAL_ERROR "${REALNAME} must be the library itself, not a link")
    endif()
    if(READELF)
        run_checked("readelf" ${run_timeout} ${READELF} -d "${libdir}/${REALNAME}")
        if(NOT run_out MATCHES "\\(SONAME\\)[^\n]*\\[${SONAME}\\]")
            message(FATAL_ERROR "${REALNAME} has no soname ${SONAME}:\n${run_out}")
        endif()
    endif()
    execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files
        "${HEADER}" "${PREFIX}/${INCLUDEDIR}/sack_tcp.h" RESULT_VARIABLE same)
    if(NOT same EQUAL 0)
        message(FATAL_ERROR "the installed header differs from include/sack_tcp.h")
    endif()
    file(READ "${libdir}/pkgconfig/sack_tcp.pc" pc)
    if(NOT pc MATCHES "prefix=${PREFIX}\n")
        message(FATAL_ERROR "sack_tcp.pc does not name the prefix installed to:\n${pc}")
    endif()

elseif(STEP STREQUAL "find_package")
    set(build "${WORK_DIR}/find_package")
    file(REMOVE_RECURSE "${build}")
    set(gen_args -G "${GENERATOR}")
    if(MAKE_PROGRAM)
        list(APPEND gen_args -DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM})
    endif()
    run_checked("consumer configure" ${build_timeout}
        ${CMAKE_COMMAND} -S "${SOURCE_DIR}/consumer" -B "${build}" ${gen_args}
        -DCMAKE_C_COMPILER=${CC}
        -DCMAKE_PREFIX_PATH=${PREFIX}
        -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
        -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF
        -DSACK_TCP_EXPECTED_VERSION=${VERSION}
        -DWERROR=${WERROR}
        -DSACK_TCP_EXPECTED_DIR=${libdir}/cmake/sack_tcp)
    message(STATUS "${run_out}")
    run_checked("consumer build" ${build_timeout} ${CMAKE_COMMAND} --build "${build}")
    # No LD_LIBRARY_PATH: the RUNPATH CMake gives points into the prefix.
    run_consumer("find_package shared" "${build}/consumer_shared" shared)
    run_consumer("find_package static" "${build}/consumer_static" static)

elseif(STEP STREQUAL "pkg_config")
    if(NOT PKG_CONFIG)
        message("install test SKIPPED: no pkg-config (bash .ci/setup installs it)")
        return()
    endif()
    set(build "${WORK_DIR}/pkg_config")
    file(REMOVE_RECURSE "${build}")
    file(MAKE_DIRECTORY "${build}")
    set(ENV{PKG_CONFIG_PATH} "${libdir}/pkgconfig")
    set(pc_args "")
    if(RELOCATED)
        # Only this root's .pc files, with their prefix moved into the root.
        set(ENV{PKG_CONFIG_LIBDIR} "${libdir}/pkgconfig")
        set(ENV{PKG_CONFIG_PATH} "")
        set(pc_args "--define-variable=prefix=${PREFIX}")
    endif()
    foreach(pc sack_tcp sack_tcp-static)
        run_checked("pkg-config --modversion ${pc}" ${run_timeout}
            ${PKG_CONFIG} ${pc_args} --modversion ${pc})
        string(STRIP "${run_out}" modversion)
        if(NOT modversion STREQUAL VERSION)
            message(FATAL_ERROR "${pc}.pc says version ${modversion}, expected ${VERSION}")
        endif()
        run_checked("pkg-config --cflags --libs ${pc}" ${run_timeout}
            ${PKG_CONFIG} ${pc_args} --cflags --libs ${pc})
        string(STRIP "${run_out}" flags)
        message(STATUS "pkg-config --cflags --libs ${pc}: ${flags}")
        separate_arguments(flags UNIX_COMMAND "${flags}")
        if(pc STREQUAL "sack_tcp")
            set(exe "${build}/consumer_pc_shared")
            set(linkage shared)
        else()
            set(exe "${build}/consumer_pc_static")
            set(linkage static)
        endif()
        # As a user would: cc main.c $(pkg-config --cflags --libs sack_tcp)
        run_checked("cc with ${pc}.pc" ${build_timeout}
            ${CC} ${warnings} "${SOURCE_DIR}/consumer/main.c" ${flags} -o "${exe}")
        run_consumer("pkg-config ${linkage}" "${exe}" ${linkage} "LD_LIBRARY_PATH=${libdir}")
    endforeach()

else()
    message(FATAL_ERROR "unknown STEP '${STEP}'")
endif()

# Builds subproject/ (a project that includes sack_tcp with add_subdirectory
# or FetchContent) and runs its programs and its ctest list. cmake -P with:
#   HOW          add_subdirectory | fetchcontent
#   SOURCE_DIR   sack_tcp's source tree;  WORK_DIR  a scratch directory
#   CARGO_TARGET_DIR, CARGO_PROFILE  the top-level build's, so cargo reuses
#                its output instead of building the crate again
#   GENERATOR, MAKE_PROGRAM, CC
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

set(build "${WORK_DIR}/subproject-${HOW}")
file(REMOVE_RECURSE "${build}")
set(args -G "${GENERATOR}" -DCMAKE_C_COMPILER=${CC} -DHOW=${HOW}
    -DCARGO_TARGET_DIR=${CARGO_TARGET_DIR} -DCARGO_PROFILE=${CARGO_PROFILE})
if(MAKE_PROGRAM)
    list(APPEND args -DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM})
endif()
if(HOW STREQUAL "fetchcontent")
    list(APPEND args -DFETCHCONTENT_SOURCE_DIR_SACK_TCP=${SOURCE_DIR} -DFETCHCONTENT_FULLY_DISCONNECTED=ON)
else()
    list(APPEND args -DSACK_TCP_SOURCE_DIR=${SOURCE_DIR})
endif()
run_checked("subproject configure" ${CMAKE_COMMAND} -S "${SOURCE_DIR}/install_test/subproject" -B "${build}" ${args})
message(STATUS "${run_out}")
if(run_out MATCHES "tests ON|examples ON|Werror ON")
    message(FATAL_ERROR "sack_tcp as a subproject turned on tests, examples or -Werror:\n${run_out}")
endif()
run_checked("subproject build" ${CMAKE_COMMAND} --build "${build}")
# Only the consumer's own two tests, and they pass.
# (ctest --test-dir needs CMake 3.20; the minimum is 3.16)
run_checked("subproject ctest" ${CMAKE_COMMAND} -E chdir "${build}" ${CMAKE_CTEST_COMMAND} --output-on-failure --timeout 60)
message(STATUS "${run_out}")
if(NOT run_out MATCHES "100% tests passed, 0 tests failed out of 2\n")
    message(FATAL_ERROR "expected exactly the consumer's 2 tests to pass:\n${run_out}")
endif()

# Configures sack_tcp with bad input and expects one clear error. cmake -P with:
#   SOURCE_DIR, WORK_DIR, NAME   the tree, a scratch directory, the case name
#   EXPECT       a regular expression the error message must match
#   ARGS         extra arguments for cmake (|-separated)
#   ENV          optional environment settings (|-separated NAME=VALUE)
cmake_minimum_required(VERSION 3.16)
string(REPLACE "|" ";" ARGS "${ARGS}")
string(REPLACE "|" ";" ENV "${ENV}")
set(build "${WORK_DIR}/configure-${NAME}")
file(REMOVE_RECURSE "${build}")
execute_process(
    COMMAND ${CMAKE_COMMAND} -E env ${ENV} ${CMAKE_COMMAND} -S "${SOURCE_DIR}" -B "${build}" ${ARGS}
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 120)
file(REMOVE_RECURSE "${build}")
if(rc EQUAL 0)
    message(FATAL_ERROR "configure with ${ARGS} succeeded; expected an error:\n${out}")
endif()
string(REGEX REPLACE "[ \n]+" " " flat "${err}")
if(NOT flat MATCHES "${EXPECT}")
    message(FATAL_ERROR "configure failed without the expected message (${EXPECT}):\n${err}")
endif()
string(REGEX MATCHALL "CMake Error" errors "${err}")
list(LENGTH errors n)
if(NOT n EQUAL 1)
    message(FATAL_ERROR "expected one error, got ${n}:\n${err}")
endif()
message(STATUS "configure with ${ARGS} failed as expected:\n${err}")

# Copies cargo's libraries into the build tree's lib/ (the layout that is
# installed), run after every `cargo build` by the sack_tcp_cargo target.
# cmake -P with:
#   SHARED_IN, STATIC_IN     cargo's libsack_tcp.so and libsack_tcp.a
#   SHARED_OUT, STATIC_OUT   the staged copies (lib/libsack_tcp.so.X.Y.Z, lib/libsack_tcp.a)
#   STRIP                    ON: the shared library keeps no debug information
#                            or symbol table beyond its exports (a debug
#                            information file, SHARED_OUT.debug, is split off
#                            when it had any) and the static library keeps no
#                            debug information
#   OBJCOPY, READELF         binutils' objcopy and readelf, needed when STRIP is ON
# A staged file newer than its source is left alone, so a build in which
# cargo changed nothing costs two timestamp checks.
cmake_minimum_required(VERSION 3.16)

function(stage in out kind)
    if(EXISTS "${out}" AND NOT "${in}" IS_NEWER_THAN "${out}")
        return()
    endif()
    set(tmp "${out}.tmp")
    file(REMOVE "${tmp}" "${out}.debug.tmp")
    if(NOT STRIP)
        execute_process(COMMAND "${CMAKE_COMMAND}" -E copy "${in}" "${tmp}" RESULT_VARIABLE rc)
        if(NOT rc EQUAL 0)
            message(FATAL_ERROR "copying ${in} failed")
        endif()
    elseif(kind STREQUAL "static")
        execute_process(COMMAND "${OBJCOPY}" --strip-debug "${in}" "${tmp}"
            RESULT_VARIABLE rc ERROR_VARIABLE err)
        if(NOT rc EQUAL 0)
            message(FATAL_ERROR "objcopy --strip-debug ${in} failed: ${err}")
        endif()
    else()
        # Split: the debug information into out.debug (found by gdb through
        # the .gnu_debuglink section, in lib/ or lib/.debug/), then strip.
        execute_process(COMMAND "${READELF}" -S --wide "${in}"
            RESULT_VARIABLE rc OUTPUT_VARIABLE sections ERROR_VARIABLE err)
        if(NOT rc EQUAL 0)
            message(FATAL_ERROR "readelf -S ${in} failed: ${err}")
        endif()
        if(sections MATCHES "\\.debug_info")
            set(has_debug_rc 0)
        else()
            set(has_debug_rc 1)
        endif()
        if(has_debug_rc EQUAL 0)
            execute_process(COMMAND "${OBJCOPY}" --only-keep-debug --compress-debug-sections
                                    "${in}" "${out}.debug.tmp"
                RESULT_VARIABLE rc ERROR_VARIABLE err)
            if(NOT rc EQUAL 0)
                message(FATAL_ERROR "objcopy --only-keep-debug ${in} failed: ${err}")
            endif()
            get_filename_component(debug_name "${out}.debug" NAME)
            get_filename_component(dir "${out}" DIRECTORY)
            file(RENAME "${out}.debug.tmp" "${dir}/${debug_name}")
            execute_process(COMMAND "${OBJCOPY}" --strip-unneeded
                                    "--add-gnu-debuglink=${dir}/${debug_name}" "${in}" "${tmp}"
                RESULT_VARIABLE rc ERROR_VARIABLE err)
        else()
            file(REMOVE "${out}.debug")
            execute_process(COMMAND "${OBJCOPY}" --strip-unneeded "${in}" "${tmp}"
                RESULT_VARIABLE rc ERROR_VARIABLE err)
        endif()
        if(NOT rc EQUAL 0)
            message(FATAL_ERROR "objcopy --strip-unneeded ${in} failed: ${err}")
        endif()
    endif()
    file(RENAME "${tmp}" "${out}")
    # A copy keeps the source's time; make the staged file newer, so that
    # the check above skips it next time.
    file(TOUCH_NOCREATE "${out}")
endfunction()

stage("${SHARED_IN}" "${SHARED_OUT}" shared)
stage("${STATIC_IN}" "${STATIC_OUT}" static)

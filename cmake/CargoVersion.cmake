# sack_tcp_cargo_version(<Cargo.toml> <out-var>)
#
# Reads the `version = "..."` of the [package] table of a Cargo manifest.
# Only the [package] table counts: dependency tables and `rust-version`
# carry versions too. A manifest without one (e.g. `version.workspace =
# true`) is a configure error, since the soname is derived from it.
function(sack_tcp_cargo_version manifest out_var)
    if(NOT EXISTS "${manifest}")
        message(FATAL_ERROR "sack_tcp: ${manifest} does not exist")
    endif()
    file(STRINGS "${manifest}" lines)
    set(table "")
    foreach(line IN LISTS lines)
        if(line MATCHES "^[ \t]*\\[([^\\[].*)\\][ \t]*(#.*)?$")
            string(STRIP "${CMAKE_MATCH_1}" table)
        elseif(table STREQUAL "package"
               AND line MATCHES "^[ \t]*version[ \t]*=[ \t]*[\"']([^\"']*)[\"']")
            set(${out_var} "${CMAKE_MATCH_1}" PARENT_SCOPE)
            return()
        endif()
    endforeach()
    message(FATAL_ERROR "sack_tcp: no `version = \"...\"` in the [package] table of ${manifest}")
endfunction()

# Finding cargo and choosing the cargo profile the library is built with.
#
#   sack_tcp_find_cargo()                       sets CARGO (cache), or stops with
#                                               one clear message
#   sack_tcp_cargo_profile(<cargo_toml> <out_profile> <out_dir>)
#                                               the profile for CMAKE_BUILD_TYPE
#                                               (or CARGO_PROFILE), and the
#                                               directory under target/ it
#                                               writes to
#
# Build types map to the profiles of Cargo.toml:
#   Debug          -> dev                 (cargo's target/debug)
#   Release        -> release             (optimised, fat LTO, symbols stripped)
#   RelWithDebInfo -> release-debuginfo   (release with debug info, split off at install)
#   MinSizeRel     -> release-small       (release with opt-level "s")
#   (none)         -> release             (a parent project that sets no type)
# CARGO_PROFILE, when set, overrides the mapping with any profile Cargo.toml
# defines (or cargo's built-in dev, release, test, bench).

set(SACK_TCP_PROFILE_Debug dev)
set(SACK_TCP_PROFILE_Release release)
set(SACK_TCP_PROFILE_RelWithDebInfo release-debuginfo)
set(SACK_TCP_PROFILE_MinSizeRel release-small)

function(sack_tcp_find_cargo)
    if(CARGO)
        # Given by the user (-DCARGO=...), or found before: it must still be there.
        if(NOT EXISTS "${CARGO}")
            message(FATAL_ERROR
                "sack_tcp: CARGO is set to '${CARGO}', which does not exist. "
                "Install Rust (https://rustup.rs) or pass -DCARGO=/path/to/cargo.")
        endif()
    else()
        # rustup installs into ~/.cargo/bin, which a non-login shell may lack.
        set(hints "")
        if(DEFINED ENV{CARGO_HOME})
            list(APPEND hints "$ENV{CARGO_HOME}/bin")
        endif()
        if(DEFINED ENV{HOME})
            list(APPEND hints "$ENV{HOME}/.cargo/bin")
        endif()
        find_program(CARGO NAMES cargo HINTS ${hints}
            DOC "cargo, which builds the Rust library")
        if(NOT CARGO)
            unset(CARGO CACHE)
            string(REPLACE ";" ", " hints_text "PATH;${hints}")
            message(FATAL_ERROR
                "sack_tcp: cargo was not found (looked in ${hints_text}). sack_tcp is a Rust library: install Rust 1.80 or newer "
                "(https://rustup.rs, or your distribution's cargo package), then "
                "configure again, or pass -DCARGO=/path/to/cargo.")
        endif()
    endif()
    execute_process(COMMAND "${CARGO}" --version
        RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err
        OUTPUT_STRIP_TRAILING_WHITESPACE TIMEOUT 60)
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "sack_tcp: '${CARGO} --version' failed (${rc}): ${err}")
    endif()
    set(SACK_TCP_CARGO_VERSION "${out}" PARENT_SCOPE)
endfunction()

function(sack_tcp_cargo_profile cargo_toml out_profile out_dir)
    # The profiles Cargo.toml defines, and cargo's own.
    file(STRINGS "${cargo_toml}" lines REGEX "^\\[profile\\.[A-Za-z0-9_-]+\\]")
    set(known dev release test bench)
    foreach(line IN LISTS lines)
        string(REGEX REPLACE "^\\[profile\\.([A-Za-z0-9_-]+)\\].*" "\\1" name "${line}")
        list(APPEND known "${name}")
    endforeach()
    list(REMOVE_DUPLICATES known)
    string(REPLACE ";" ", " known_text "${known}")

    if(CARGO_PROFILE)
        set(profile "${CARGO_PROFILE}")
        if(NOT profile IN_LIST known)
            message(FATAL_ERROR
                "sack_tcp: CARGO_PROFILE '${profile}' is not a cargo profile of "
                "${cargo_toml}. Use one of: ${known_text}; or leave CARGO_PROFILE "
                "empty to follow CMAKE_BUILD_TYPE.")
        endif()
    else()
        set(type "${CMAKE_BUILD_TYPE}")
        if(type STREQUAL "")
            # No build type (a parent project that sets none): the
            # optimised library, as for Release.
            set(type Release)
        endif()
        if(NOT DEFINED SACK_TCP_PROFILE_${type})
            message(FATAL_ERROR
                "sack_tcp: CMAKE_BUILD_TYPE '${type}' has no cargo profile. Use "
                "Debug, Release, RelWithDebInfo or MinSizeRel, or name the "
                "profile with -DCARGO_PROFILE=<${known_text}>.")
        endif()
        set(profile "${SACK_TCP_PROFILE_${type}}")
    endif()

    # Where cargo writes that profile: target/debug for dev and test,
    # target/release for bench, target/<name> otherwise.
    if(profile STREQUAL "dev" OR profile STREQUAL "test")
        set(dir debug)
    elseif(profile STREQUAL "bench")
        set(dir release)
    else()
        set(dir "${profile}")
    endif()
    set(${out_profile} "${profile}" PARENT_SCOPE)
    set(${out_dir} "${dir}" PARENT_SCOPE)
endfunction()

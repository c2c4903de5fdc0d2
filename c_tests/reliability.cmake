# Reliability programs that cannot be TEST()s of the suite because they
# are about the process itself: unloading the library with dlclose, and
# exiting without sack_tcp_shutdown. Included from c_tests/CMakeLists.txt.
set(sack_tcp_rel_dir "${CMAKE_CURRENT_SOURCE_DIR}/reliability")

# dlclose: the library is dlopen()ed, never linked, so only its header is
# used at build time; the path of the shared library is the argument.
add_executable(reliability_dlclose "${sack_tcp_rel_dir}/dlclose.c")
target_include_directories(reliability_dlclose PRIVATE
    "$<TARGET_PROPERTY:sack_tcp_shared,INTERFACE_INCLUDE_DIRECTORIES>")
target_link_libraries(reliability_dlclose PRIVATE ${CMAKE_DL_LIBS} Threads::Threads)
target_compile_options(reliability_dlclose PRIVATE ${SACK_TCP_C_WARNINGS})
# The library must be built before this test runs, though nothing links it.
add_dependencies(reliability_dlclose sack_tcp_cargo)
add_test(NAME reliability.dlclose
    COMMAND reliability_dlclose "$<TARGET_PROPERTY:sack_tcp_shared,IMPORTED_LOCATION>")
set_tests_properties(reliability.dlclose PROPERTIES TIMEOUT 30)

# Returning from main without sack_tcp_shutdown, idle and with traffic in
# flight, against each library flavour.
foreach(flavour shared static)
    set(exe reliability_no_shutdown_${flavour})
    add_executable(${exe} "${sack_tcp_rel_dir}/no_shutdown.c")
    target_link_libraries(${exe} PRIVATE sack_tcp_${flavour} Threads::Threads)
    target_compile_options(${exe} PRIVATE ${SACK_TCP_C_WARNINGS})
    foreach(mode idle busy)
        add_test(NAME reliability.no_shutdown.${flavour}.${mode} COMMAND ${exe} ${mode})
        set_tests_properties(reliability.no_shutdown.${flavour}.${mode} PROPERTIES TIMEOUT 30)
    endforeach()
endforeach()

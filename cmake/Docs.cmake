# The API reference (docs/Doxyfile): `cmake --build <build> --target docs`
# writes HTML to <build>/docs/html from include/sack_tcp.h, with every
# doxygen warning an error. ctest: docs.doxygen (the same build) and
# docs.comments (every public function has a documentation comment; needs
# only python3). Included from CMakeLists.txt.
find_program(SACK_TCP_DOXYGEN doxygen)
set(sack_tcp_docs_env
    "SACK_TCP_DOCS_OUT=${PROJECT_BINARY_DIR}/docs" "SACK_TCP_VERSION=${PROJECT_VERSION}")
if(SACK_TCP_DOXYGEN)
    add_custom_target(docs
        COMMAND ${CMAKE_COMMAND} -E make_directory "${PROJECT_BINARY_DIR}/docs"
        COMMAND ${CMAKE_COMMAND} -E env ${sack_tcp_docs_env} "${SACK_TCP_DOXYGEN}" docs/Doxyfile
        COMMAND ${CMAKE_COMMAND} -E echo "API reference: ${PROJECT_BINARY_DIR}/docs/html/index.html"
        WORKING_DIRECTORY "${PROJECT_SOURCE_DIR}"
        COMMENT "doxygen docs/Doxyfile (warnings are errors)"
        VERBATIM)
else()
    add_custom_target(docs
        COMMAND ${CMAKE_COMMAND} -E echo "doxygen not found: install it (apt-get install doxygen) and configure again"
        COMMAND ${CMAKE_COMMAND} -E false)
endif()

if(sack_tcp_tests)
    if(SACK_TCP_DOXYGEN)
        add_test(NAME docs.doxygen
            COMMAND ${CMAKE_COMMAND} -E env
                    "SACK_TCP_DOCS_OUT=${PROJECT_BINARY_DIR}/docs-test" "SACK_TCP_VERSION=${PROJECT_VERSION}"
                    "${SACK_TCP_DOXYGEN}" docs/Doxyfile
            WORKING_DIRECTORY "${PROJECT_SOURCE_DIR}")
        set_tests_properties(docs.doxygen PROPERTIES TIMEOUT 120)
    endif()
    find_package(Python3 COMPONENTS Interpreter)
    if(Python3_Interpreter_FOUND)
        add_test(NAME docs.comments
            COMMAND ${Python3_EXECUTABLE} "${PROJECT_SOURCE_DIR}/docs/check_comments.py"
                    "${PROJECT_SOURCE_DIR}/include/sack_tcp.h")
        set_tests_properties(docs.comments PROPERTIES TIMEOUT 60)
    endif()
endif()

# install() rules and the exported CMake package.
#
# After `cmake --install <build> --prefix <prefix>` another project does
#   find_package(strata REQUIRED)             # with <prefix> in CMAKE_PREFIX_PATH
#   target_link_libraries(app PRIVATE strata::strata)
# and gets the library, the public headers, C++20 and the threads/dl link flags. strata's own warning and
# sanitizer flags (strata_build_flags) are BUILD_INTERFACE-only and are not exported.
include(CMakePackageConfigHelpers)

set(STRATA_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/strata"
    CACHE STRING "Where the strata CMake package files are installed, relative to the prefix")

install(TARGETS strata EXPORT strataTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/strata DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.hpp" PATTERN "*.h")

install(EXPORT strataTargets NAMESPACE strata:: FILE strataTargets.cmake
        DESTINATION ${STRATA_INSTALL_CMAKEDIR})

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/strataConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/strataConfig.cmake
                              INSTALL_DESTINATION ${STRATA_INSTALL_CMAKEDIR})
# 0.x: a minor release may break the API, so only the same MAJOR.MINOR satisfies a request.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/strataConfigVersion.cmake
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/strataConfig.cmake ${PROJECT_BINARY_DIR}/strataConfigVersion.cmake
        DESTINATION ${STRATA_INSTALL_CMAKEDIR})

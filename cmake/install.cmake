# `cmake --install build --prefix P`: the program, the waveform (phy) and learner (fl) libraries
# with their public headers, pkg-config files and a CMake package, so that a third party can link
# phy or fl without the program (docs/architecture.md, "Using the libraries").
#   P/bin/airmeta
#   P/lib/libairmeta_{core,phy,fl}.a
#   P/include/airmeta/{core,phy,fl}/*.h        (#include "phy/ota_rx.h" with -IP/include/airmeta)
#   P/lib/pkgconfig/airmeta-{phy,fl}.pc        (static libraries: pkg-config --static --libs)
#   P/lib/cmake/airmeta/airmetaConfig.cmake    (find_package(airmeta): airmeta::phy, airmeta::fl)
#   P/share/man/man1/airmeta.1                 (when help2man is installed)
include(CMakePackageConfigHelpers)

set_target_properties(am_core PROPERTIES OUTPUT_NAME airmeta_core EXPORT_NAME core)
set_target_properties(am_phy PROPERTIES OUTPUT_NAME airmeta_phy EXPORT_NAME phy)
set_target_properties(am_fl PROPERTIES OUTPUT_NAME airmeta_fl EXPORT_NAME fl)

install(TARGETS airmeta RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS am_core am_phy am_fl EXPORT airmetaTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/airmeta)
foreach(lib core phy fl)
    install(DIRECTORY ${PROJECT_SOURCE_DIR}/${lib}/include/${lib}
            DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/airmeta FILES_MATCHING PATTERN "*.h")
endforeach()

set(AM_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/airmeta)
install(EXPORT airmetaTargets NAMESPACE airmeta:: DESTINATION ${AM_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/airmetaConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/airmetaConfig.cmake
                              INSTALL_DESTINATION ${AM_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/airmetaConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/airmetaConfig.cmake
              ${PROJECT_BINARY_DIR}/airmetaConfigVersion.cmake DESTINATION ${AM_CMAKE_DIR})

# pkg-config: the libraries are static, so what they link comes in Libs.private/Requires.private.
# Relocatable: the prefix is found from the .pc file's own folder (any --prefix at install time).
get_filename_component(AM_LIQUID_DIR ${LIQUID_LIBRARY} DIRECTORY)
file(RELATIVE_PATH AM_PC_REL /p/${CMAKE_INSTALL_LIBDIR}/pkgconfig /p)
foreach(pc airmeta-phy airmeta-fl)
    configure_file(${PROJECT_SOURCE_DIR}/cmake/${pc}.pc.in ${PROJECT_BINARY_DIR}/${pc}.pc @ONLY)
    install(FILES ${PROJECT_BINARY_DIR}/${pc}.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endforeach()

# A man page made from `airmeta --help` when help2man is there (no error when it is not).
find_program(HELP2MAN help2man)
if(HELP2MAN)
    add_custom_command(OUTPUT ${PROJECT_BINARY_DIR}/airmeta.1
                       COMMAND ${HELP2MAN} --no-info --name "federated meta-learning over the air"
                               --output ${PROJECT_BINARY_DIR}/airmeta.1 $<TARGET_FILE:airmeta>
                       DEPENDS airmeta VERBATIM)
    add_custom_target(airmeta_man ALL DEPENDS ${PROJECT_BINARY_DIR}/airmeta.1)
    install(FILES ${PROJECT_BINARY_DIR}/airmeta.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
endif()

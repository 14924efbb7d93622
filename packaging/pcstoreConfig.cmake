# CMake package config of libpcstore: `find_package(pcstore)` gives two imported targets,
#   pcstore::pcstore         the shared library (libpcstore.so.0)
#   pcstore::pcstore_static  the static library with the native libraries it needs
# both with the include directory holding pcstore.h, pcstore_vulkan.h, pcstore.hpp and
# pcstore_loader.h.
# Relocatable: every path is relative to this file (<prefix>/lib/cmake/pcstore/).
get_filename_component(_pcstore_prefix "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)

if(NOT TARGET pcstore::pcstore)
  add_library(pcstore::pcstore SHARED IMPORTED)
  set_target_properties(pcstore::pcstore PROPERTIES
    IMPORTED_LOCATION "${_pcstore_prefix}/lib/libpcstore.so.0"
    IMPORTED_SONAME "libpcstore.so.0"
    INTERFACE_INCLUDE_DIRECTORIES "${_pcstore_prefix}/include")
endif()

if(NOT TARGET pcstore::pcstore_static)
  add_library(pcstore::pcstore_static STATIC IMPORTED)
  set_target_properties(pcstore::pcstore_static PROPERTIES
    IMPORTED_LOCATION "${_pcstore_prefix}/lib/libpcstore.a"
    INTERFACE_INCLUDE_DIRECTORIES "${_pcstore_prefix}/include"
    INTERFACE_LINK_LIBRARIES "gcc_s;util;rt;pthread;m;dl")
endif()

unset(_pcstore_prefix)

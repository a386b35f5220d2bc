# Backend options and bookkeeping. Each backend folder either calls
#   sdpa_backend_built(<folder> <target>)  or  sdpa_backend_missing(<folder> "<reason>")
# and backends/CMakeLists.txt generates the registry's includes and calls from that.

function(sdpa_backend_option name)
  string(TOUPPER ${name} up)
  set(SDPA_WITH_${up} AUTO CACHE STRING "Build the ${name} backend: AUTO (when its dependency is found), ON (required) or OFF")
  set_property(CACHE SDPA_WITH_${up} PROPERTY STRINGS AUTO ON OFF)
  if(NOT SDPA_WITH_${up} MATCHES "^(AUTO|ON|OFF)$")
    message(FATAL_ERROR "SDPA_WITH_${up}=${SDPA_WITH_${up}}: must be AUTO, ON or OFF")
  endif()
endfunction()

function(sdpa_backend_missing name reason)
  string(TOUPPER ${name} up)
  if(SDPA_WITH_${up} STREQUAL "ON")
    message(FATAL_ERROR "SDPA_WITH_${up}=ON, but ${reason}")
  endif()
  message(STATUS "sdpa-bench: backend '${name}' not built: ${reason}")
  set_property(GLOBAL PROPERTY SDPA_BACKEND_MISSING_${name} "${reason}")
endfunction()

function(sdpa_backend_built name target)
  message(STATUS "sdpa-bench: backend '${name}' built")
  set_property(GLOBAL APPEND PROPERTY SDPA_BACKEND_TARGETS ${target})
  set_property(GLOBAL APPEND PROPERTY SDPA_BACKEND_BUILT_FOLDERS ${name})
endfunction()

# A GoogleTest executable registered with CTest under the given labels.
function(sdpa_add_test name)
  cmake_parse_arguments(T "" "" "SOURCES;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE sdpa_harness GTest::gtest GTest::gtest_main)
  gtest_discover_tests(${name} PROPERTIES LABELS "${T_LABELS}" DISCOVERY_TIMEOUT 60)
endfunction()

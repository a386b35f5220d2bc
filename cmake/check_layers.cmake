# The layering rule as a test: dependencies point one way,
#   core  <-  reference, backends  <-  harness  <-  CLI
# and a backend folder includes no other backend folder. Test and micro-benchmark sources
# (*_test.cpp, *_bench.cpp, and the fixtures tests share, *_test_fixture.h) sit beside the code
# but are harness-level programs, so they may include the harness and the reference (never
# another backend). Run: cmake -DSOURCE_DIR=. -P
if(NOT SOURCE_DIR)
  message(FATAL_ERROR "usage: cmake -DSOURCE_DIR=<repo> -P check_layers.cmake")
endif()
get_filename_component(SOURCE_DIR "${SOURCE_DIR}" ABSOLUTE)
set(violations "")
file(GLOB_RECURSE sources RELATIVE ${SOURCE_DIR}
     ${SOURCE_DIR}/core/*.h ${SOURCE_DIR}/core/*.cpp
     ${SOURCE_DIR}/reference/*.h ${SOURCE_DIR}/reference/*.cpp
     ${SOURCE_DIR}/backends/*.h ${SOURCE_DIR}/backends/*.cpp ${SOURCE_DIR}/backends/*.cu ${SOURCE_DIR}/backends/*.cuh)
foreach(src ${sources})
  string(REGEX MATCH "(_(test|bench)\\.cpp|_test_fixture\\.h)$" is_program "${src}")
  string(REGEX MATCH "^[^/]+" layer "${src}")
  set(allowed "core")
  if(layer STREQUAL "reference")
    list(APPEND allowed "reference")
  elseif(layer STREQUAL "backends")
    # backends/<folder>/...: its own folder and the interface; backends/*.cpp (the registry) all.
    string(REGEX MATCH "^backends/[^/]+/" own "${src}")
    if(own)
      list(APPEND allowed "${own}" "backends/backend.h" "backends/registry.h")
    else()
      list(APPEND allowed "backends/")
    endif()
  endif()
  if(is_program)
    list(APPEND allowed "harness/" "reference/")
  endif()
  file(STRINGS ${SOURCE_DIR}/${src} includes REGEX "^[ \t]*#[ \t]*include[ \t]+\"")
  foreach(line ${includes})
    string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]+\"([^\"]+)\".*" "\\1" inc "${line}")
    if(NOT inc MATCHES "^(core|reference|backends|harness)/")
      continue()  # a library's header or a generated one
    endif()
    set(ok FALSE)
    foreach(prefix ${allowed})
      string(FIND "${inc}" "${prefix}" at)
      if(at EQUAL 0)
        set(ok TRUE)
      endif()
    endforeach()
    if(NOT ok)
      string(APPEND violations "\n  ${src} includes \"${inc}\" (allowed here: ${allowed})")
    endif()
  endforeach()
endforeach()
if(violations)
  message(FATAL_ERROR "layering: includes that point up or across:${violations}")
endif()
list(LENGTH sources count)
message(STATUS "layering: ${count} files, every include points down")

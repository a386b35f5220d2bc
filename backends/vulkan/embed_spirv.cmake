# Turns a SPIR-V binary into a C++ header holding it as a uint32_t array, so the shaders live
# inside the binary and the backend needs no file at run time.
#   cmake -DSPV=<in.spv> -DHEADER=<out.h> -DSYMBOL=<name> -P embed_spirv.cmake
file(READ "${SPV}" hex HEX)
string(LENGTH "${hex}" hex_len)
math(EXPR bytes "${hex_len} / 2")
math(EXPR rem "${bytes} % 4")
if(bytes EQUAL 0 OR NOT rem EQUAL 0)
  message(FATAL_ERROR "${SPV}: ${bytes} bytes is not a SPIR-V module (a non-empty multiple of 4)")
endif()
# SPIR-V words are little-endian in the file: bytes b0 b1 b2 b3 make 0xb3b2b1b0.
string(REGEX REPLACE "(..)(..)(..)(..)" "0x\\4\\3\\2\\1u," words "${hex}")
# Eight words a line (CMake regexes have no {n} repetition).
set(w "0x[0-9a-f]+u,")
string(REGEX REPLACE "(${w}${w}${w}${w}${w}${w}${w}${w})" "\\1\n  " words "${words}")
math(EXPR word_count "${bytes} / 4")
file(WRITE "${HEADER}.tmp"
  "// Generated from ${SPV} by embed_spirv.cmake: do not edit.\n"
  "#pragma once\n#include <cstdint>\n\n"
  "inline constexpr uint32_t ${SYMBOL}[${word_count}] = {\n  ${words}\n};\n")
file(RENAME "${HEADER}.tmp" "${HEADER}")

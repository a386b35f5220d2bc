// One number through a printf format, for the tables and verdict lines the harness prints.
#pragma once

#include <cstdio>
#include <string>

namespace sdpa {

inline std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

}  // namespace sdpa

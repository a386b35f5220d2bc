#include "backends/onednn/verbose_log.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>

#include <oneapi/dnnl/dnnl.hpp>

namespace sdpa::onednn {

namespace {

std::vector<std::string> split(const std::string& line, char sep) {
  std::vector<std::string> fields;
  std::string field;
  std::istringstream in(line);
  while (std::getline(in, field, sep)) fields.push_back(field);
  return fields;
}

// Verbose creation lines (oneDNN 3.x, "v1" format):
//   onednn_verbose,v1,primitive,create:cache_miss,cpu,matmul,brg_matmul:avx512_core,...
//   onednn_verbose,v1,graph,compile:cache_miss,cpu,<id>,<kind>,<ops>,...,<impl>,<backend>,<ms>
void parse(const std::string& text, KernelLog& log) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    const auto f = split(line, ',');
    if (f.size() < 7 || f[0] != "onednn_verbose") continue;
    // "v1" was added in 3.5; older logs start with the component right away.
    const std::size_t at = f[1] == "v1" ? 2 : 1;
    if (f.size() < at + 5) continue;
    const std::string& component = f[at];
    const std::string& event = f[at + 1];
    if (component == "primitive" && event.rfind("create", 0) == 0) {
      log.primitives.push_back(f[at + 3] + " " + f[at + 4]);
    } else if (component == "graph" && event.rfind("compile", 0) == 0 && f.size() >= 3) {
      log.graph.push_back(f[f.size() - 3]);
    }
  }
}

}  // namespace

KernelLog log_kernels(const std::function<void()>& call) {
  KernelLog log;
  if (std::getenv("ONEDNN_VERBOSE") || std::getenv("DNNL_VERBOSE")) {
    call();
    return log;
  }
  std::cout.flush();
  std::fflush(stdout);
  FILE* sink = std::tmpfile();
  const int saved = sink ? dup(STDOUT_FILENO) : -1;
  if (saved < 0 || dup2(fileno(sink), STDOUT_FILENO) < 0) {
    if (saved >= 0) close(saved);
    if (sink) std::fclose(sink);
    call();
    return log;
  }
  auto restore = [&] {
    std::fflush(stdout);
    dnnl::set_verbose(0);
    dup2(saved, STDOUT_FILENO);
    close(saved);
  };
  dnnl::set_verbose(2);  // 2: creation as well as execution
  try {
    call();
  } catch (...) {
    restore();
    std::fclose(sink);
    throw;
  }
  restore();
  std::string text;
  std::rewind(sink);
  char buffer[4096];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, sink)) > 0) text.append(buffer, n);
  std::fclose(sink);
  parse(text, log);
  log.captured = true;
  return log;
}

std::string join(const std::vector<std::string>& items, const std::string& separator) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : separator) + item;
  return out;
}

}  // namespace sdpa::onednn

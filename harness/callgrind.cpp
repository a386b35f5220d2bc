#include "harness/callgrind.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace sdpa {

namespace fs = std::filesystem;

std::vector<std::string> callgrind_worker_command(const std::string& valgrind, const std::string& bin,
                                                  const std::string& out_prefix) {
  return {valgrind,
          "--tool=callgrind",
          "--collect-atstart=no",
          "--callgrind-out-file=" + out_prefix + ".%p",
          "--dump-line=no",
          "--compress-strings=no",
          "--smc-check=all-non-file",  // oneDNN writes its kernels at run time (a JIT)
          "--quiet",
          bin,
          "worker",
          "--threads",
          "1"};
}

std::vector<std::string> callgrind_worker_env() { return {"OMP_NUM_THREADS=1", "OMP_WAIT_POLICY=passive"}; }

uint64_t read_callgrind_total(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error("callgrind dump " + path + " cannot be read");
  std::string line;
  while (std::getline(f, line)) {
    for (const char* key : {"summary:", "totals:"}) {
      if (line.rfind(key, 0) == 0) {
        std::istringstream in(line.substr(std::string(key).size()));
        uint64_t ir = 0;
        if (in >> ir) return ir;
      }
    }
  }
  throw std::runtime_error("callgrind dump " + path + " has no summary line");
}

uint64_t take_callgrind_dump(const std::string& out_prefix, long pid) {
  const fs::path prefix(out_prefix);
  const std::string stem = prefix.filename().string() + "." + std::to_string(pid) + ".";
  fs::path newest;
  long best = -1;
  for (const auto& entry : fs::directory_iterator(prefix.parent_path().empty() ? fs::path(".") : prefix.parent_path())) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(stem, 0) != 0) continue;
    try {
      const long n = std::stol(name.substr(stem.size()));
      if (n > best) {
        best = n;
        newest = entry.path();
      }
    } catch (const std::exception&) {
    }
  }
  if (best < 0) throw std::runtime_error("no callgrind dump " + out_prefix + "." + std::to_string(pid) + ".<n>");
  const uint64_t ir = read_callgrind_total(newest.string());
  fs::remove(newest);
  return ir;
}

}  // namespace sdpa

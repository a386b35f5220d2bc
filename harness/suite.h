// Suites are plain text files of problem lines (harness/suites/<name>.txt); '#' starts a comment.
#pragma once

#include <string>
#include <vector>

#include "core/problem.h"

namespace sdpa {

struct SuiteCase {
  Problem problem;
  std::string source;  // "smoke.txt:12", for error messages
};

// `name_or_path` is a suite name (smoke, ci, full, scaling, mlperf, ...) or a path to a file.
// Throws SpecError naming the file and line of a bad problem, or the known suites.
std::vector<SuiteCase> load_suite(const std::string& name_or_path);

// Names of the suites shipped in harness/suites.
std::vector<std::string> known_suites();

}  // namespace sdpa

#include "harness/suite.h"

#include "harness/source_dir.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

namespace sdpa {

namespace fs = std::filesystem;

namespace {

fs::path suites_dir() {
  // SDPA_SUITES_DIR lets an installed binary find its suites; the source tree is the default.
  if (const char* env = std::getenv("SDPA_SUITES_DIR")) return env;
  return fs::path(source_dir()) / "harness" / "suites";
}

}  // namespace

std::vector<std::string> known_suites() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(suites_dir(), ec)) {
    if (entry.path().extension() == ".txt") names.push_back(entry.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<SuiteCase> load_suite(const std::string& name_or_path) {
  fs::path path = name_or_path;
  if (!fs::exists(path)) path = suites_dir() / (name_or_path + ".txt");
  std::ifstream in(path);
  if (!in) {
    std::string known;
    known = join(known_suites(), ", ");
    throw SpecError("suite '" + name_or_path + "': no such suite or file (known suites: " + known + ")");
  }
  std::vector<SuiteCase> cases;
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = path.filename().string() + ":" + std::to_string(line_no);
    try {
      cases.push_back({parse_problem(line), where});
    } catch (const SpecError& e) {
      throw SpecError(where + ": " + e.what());
    }
  }
  if (cases.empty()) throw SpecError("suite '" + name_or_path + "' (" + path.string() + ") has no problems");
  return cases;
}

}  // namespace sdpa

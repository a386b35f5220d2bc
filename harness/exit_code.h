// The one mapping from a command's outcome to the process exit code, for every subcommand:
//   0  ok;
//   1  a case failed, a regression, or a runtime failure of a backend (the command's own return,
//      or any std::exception that is not bad input);
//   2  bad input: a usage error, a bad spec or option, a refused or unreadable file, a write
//      that failed (SpecError, std::invalid_argument), with the message on stderr.
#pragma once

#include <functional>
#include <iosfwd>

namespace sdpa {

inline constexpr const char* kExitCodesHelp =
    "Exit codes: 0 ok; 1 a failing case or a regression; 2 bad input (usage, spec, file, environment).";

// Runs `command` and returns its exit code, printing "error: <what>" on `err` for an exception.
int exit_code_of(const std::function<int()>& command, std::ostream& err);
int exit_code_of(const std::function<int()>& command);  // err = std::cerr

}  // namespace sdpa

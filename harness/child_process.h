// Running a command in a child process with a wall-clock limit: the isolation under
// `--isolate`, where a crash or a hang of one case must not take the matrix down.
#pragma once

#include <string>
#include <vector>

namespace sdpa {

struct ChildOutcome {
  int exit_code = -1;     // when it exited
  int signal = 0;         // when a signal ended it (after a timeout: SIGKILL)
  bool timed_out = false;
  std::string output;     // stdout and stderr together
  // "exit 0", "crashed: SIGSEGV", "timeout after 30 s"
  std::string describe(double timeout_s) const;
};

// fork + exec of argv[0] with argv; kills the child's process group after `timeout_s`.
// Throws std::runtime_error when the child cannot be started.
ChildOutcome run_child(const std::vector<std::string>& argv, double timeout_s);

// The path of this executable (/proc/self/exe), for re-running it as a child.
std::string self_executable();

}  // namespace sdpa

// The driver's side of the worker protocol (harness/worker.h): starts `BIN worker` (optionally
// under a wrapper such as valgrind) with extra environment variables, sends one request line
// and reads one answer line, with a time limit. A worker that dies or answers nothing within
// the limit becomes a WorkerError naming the side and the tail of its stderr.
#pragma once

#include <stdexcept>
#include <string>
#include <sys/types.h>
#include <vector>

namespace sdpa {

class WorkerError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class WorkerClient {
 public:
  // argv: the full command (e.g. {"valgrind", ..., BIN, "worker"}); env: "K=V" added to this
  // process's environment; stderr_path: where the worker's stderr goes.
  WorkerClient(std::string label, const std::vector<std::string>& argv, const std::vector<std::string>& env,
               std::string stderr_path);
  ~WorkerClient();
  WorkerClient(const WorkerClient&) = delete;
  WorkerClient& operator=(const WorkerClient&) = delete;

  // Sends `line`, returns the answer line (without the newline). Throws WorkerError.
  std::string request(const std::string& line, double timeout_s) {
    send(line);
    return receive(timeout_s);
  }
  // The two halves, for driving two workers at once.
  void send(const std::string& line);
  std::string receive(double timeout_s);
  // The answer split at its first space: {"ok", rest}.
  static std::pair<std::string, std::string> split(const std::string& answer);
  pid_t pid() const { return pid_; }
  const std::string& label() const { return label_; }
  std::string stderr_tail(std::size_t bytes = 600) const;

 private:
  std::string label_, stderr_path_;
  pid_t pid_ = -1;
  int to_child_ = -1, from_child_ = -1;
  std::string buffer_, last_request_;
};

}  // namespace sdpa

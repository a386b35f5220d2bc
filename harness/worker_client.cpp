#include "harness/worker_client.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>

namespace sdpa {

WorkerClient::WorkerClient(std::string label, const std::vector<std::string>& argv,
                           const std::vector<std::string>& env, std::string stderr_path)
    : label_(std::move(label)), stderr_path_(std::move(stderr_path)) {
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) {
    throw WorkerError(label_ + ": pipe: " + std::strerror(errno));
  }
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const int err = open(stderr_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (err < 0) throw WorkerError(label_ + ": cannot write " + stderr_path_ + ": " + std::strerror(errno));
  signal(SIGPIPE, SIG_IGN);  // a worker that died is an error of the request, not of the driver
  pid_ = fork();
  if (pid_ < 0) throw WorkerError(label_ + ": fork: " + std::strerror(errno));
  if (pid_ == 0) {
    setpgid(0, 0);
    dup2(in[0], STDIN_FILENO);
    dup2(out[1], STDOUT_FILENO);
    dup2(err, STDERR_FILENO);
    for (const std::string& kv : env) putenv(const_cast<char*>(kv.c_str()));
    execvp(args[0], args.data());
    std::fprintf(stderr, "cannot start %s: %s\n", args[0], std::strerror(errno));
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  close(err);
  to_child_ = in[1];
  from_child_ = out[0];
}

WorkerClient::~WorkerClient() {
  if (pid_ <= 0) return;
  if (to_child_ >= 0) {
    static const char quit[] = "quit\n";
    (void)!write(to_child_, quit, sizeof quit - 1);
    close(to_child_);
  }
  // A worker gets a moment to leave by itself (valgrind writes its last file), then is killed.
  // Polled every 2 ms at first: the timing tier replaces its workers between blocks, and a
  // worker that leaves at once must not cost a 50 ms sleep each time.
  for (int i = 0; i < 300; ++i) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      break;
    }
    usleep(i < 100 ? 2000 : 50000);
  }
  if (pid_ > 0) {
    kill(-pid_, SIGKILL);
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (from_child_ >= 0) close(from_child_);
}

std::string WorkerClient::stderr_tail(std::size_t bytes) const {
  std::ifstream f(stderr_path_, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  std::string s = ss.str();
  if (s.size() > bytes) s = "..." + s.substr(s.size() - bytes);
  return s;
}

void WorkerClient::send(const std::string& line) {
  last_request_ = line;
  const std::string msg = line + "\n";
  std::size_t sent = 0;
  while (sent < msg.size()) {
    const ssize_t w = write(to_child_, msg.data() + sent, msg.size() - sent);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) throw WorkerError(label_ + " worker exited (request '" + line + "'): " + stderr_tail());
    sent += static_cast<std::size_t>(w);
  }
}

std::string WorkerClient::receive(double timeout_s) {
  const std::string& line = last_request_;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (true) {
    if (const auto nl = buffer_.find('\n'); nl != std::string::npos) {
      std::string answer = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return answer;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) throw WorkerError(label_ + " worker: no answer to '" + line + "' within the time limit");
    pollfd p{from_child_, POLLIN, 0};
    const int r = poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 1000)));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    char buf[65536];
    const ssize_t n = read(from_child_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw WorkerError(label_ + " worker exited (request '" + line + "'): " + stderr_tail());
    buffer_.append(buf, static_cast<std::size_t>(n));
  }
}

std::pair<std::string, std::string> WorkerClient::split(const std::string& answer) {
  const auto sp = answer.find(' ');
  if (sp == std::string::npos) return {answer, ""};
  return {answer.substr(0, sp), answer.substr(sp + 1)};
}

}  // namespace sdpa

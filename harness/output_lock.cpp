#include "harness/output_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

#include "core/problem.h"

namespace sdpa {

namespace {

std::string read_all(int fd) {
  std::string text;
  char buf[64];
  ::lseek(fd, 0, SEEK_SET);
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) text.append(buf, static_cast<std::size_t>(n));
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

}  // namespace

OutputLock::OutputLock(const std::string& out) : path_(out + ".lock") {
  const std::filesystem::path parent = std::filesystem::path(path_).parent_path();
  std::error_code ec;
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  // Retried when the file was removed by its previous holder between our open and our lock:
  // the lock must be on the file the path names now.
  for (int attempt = 0; attempt < 100; ++attempt) {
    const int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) throw SpecError("cannot create the lock " + path_ + ": " + std::strerror(errno));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      const std::string holder = read_all(fd);
      ::close(fd);
      if (err == EWOULDBLOCK) {
        throw SpecError(out + " is being written by another run (pid " + (holder.empty() ? "unknown" : holder) +
                        ", lock " + path_ + "): wait for it, or give another --out");
      }
      throw SpecError("cannot lock " + path_ + ": " + std::strerror(err));
    }
    struct stat held{}, named{};
    if (::fstat(fd, &held) == 0 && ::stat(path_.c_str(), &named) == 0 && held.st_ino == named.st_ino &&
        held.st_dev == named.st_dev) {
      const std::string pid = std::to_string(::getpid()) + "\n";
      if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
        // The pid is a courtesy to the next run's message; the lock holds without it.
      }
      fd_ = fd;
      return;
    }
    ::close(fd);
  }
  throw SpecError("cannot lock " + path_ + ": it keeps being replaced");
}

OutputLock::~OutputLock() {
  if (fd_ < 0) return;
  ::unlink(path_.c_str());  // while still held: a waiter re-checks the path after locking
  ::close(fd_);
}

}  // namespace sdpa

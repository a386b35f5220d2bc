// An exclusive lock on a results file and its journal while a run writes them: a second run to
// the same --out is refused (SpecError, exit 2) naming the process that holds it, instead of
// resuming from a live journal and replacing the first run's file.
//
// The lock is flock(2) on <out>.lock, which holds the holder's pid; the kernel releases it when
// the holder dies (a killed run leaves no lock behind, only the file, which the next run reuses).
// The holder removes the file when it lets go.
#pragma once

#include <string>

namespace sdpa {

class OutputLock {
 public:
  explicit OutputLock(const std::string& out);  // throws SpecError when another process holds it
  ~OutputLock();
  OutputLock(const OutputLock&) = delete;
  OutputLock& operator=(const OutputLock&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace sdpa

// `sdpa-bench worker`: one process that stays alive and measures cases on request, one line in
// and one line out, so that a driver (`sdpa-bench ab`) can time two binaries in alternating
// short rounds without paying process start-up, input generation or warm-up inside a round.
//
// Protocol (version 1), one request per line on stdin, one answer per line on stdout:
//   hello                      -> ok sdpa-bench-worker 1
//   prepare BACKEND SPEC MODE  -> ok pass EST_MS PATH_NOTE | skip REASON | fail REASON | error REASON
//        MODE check: inputs, fp64 reference, prepare, one run checked, warm-up (>= 3 calls, 30 ms);
//        MODE nocheck: the same without the reference (for runs under valgrind). EST_MS is the
//        warm-up's median call.
//   time N                     -> ok MS_1 ... MS_N | CPU_1 ... CPU_N
//        N back-to-back timed calls (run + sync): wall ms (or the device's clock where the backend
//        has one), then the process CPU ms of each call (all its threads)
//   count N                    -> ok                   N calls with callgrind collecting only
//        inside run() + sync(), then one callgrind dump named "sdpa-case" (error unless under valgrind)
//   release                    -> ok
//   quit                       -> ok, then exit 0
// Anything the backends print goes to stderr: stdout carries the protocol only.
#pragma once

#include <functional>
#include <istream>
#include <ostream>

namespace CLI {
class App;
}

namespace sdpa {

inline constexpr int kWorkerProtocol = 1;

// Serves requests from `in` until quit or end of input; returns the exit code.
int serve_worker(std::istream& in, std::ostream& out, int threads);

// Registers `worker` and `ab` (harness/ab_gate.h); main.cpp runs the one parsed and maps its
// exceptions to the exit code, as for every command.
struct WorkerCommands {
  std::function<int()> worker, ab;
};
WorkerCommands add_worker_commands(CLI::App& app);

}  // namespace sdpa

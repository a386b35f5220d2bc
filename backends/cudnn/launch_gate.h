// Keeps host launch time out of device timing. Events recorded on an idle stream start the
// clock as soon as the start event is queued, so everything the host does until the kernels are
// queued (cuDNN's execute, argument packing, the launches themselves) lands inside the window.
// The gate holds the stream at a host-released value (cuStreamWaitValue32 on a mapped host
// word) until the whole case is queued; the start event behind it then fires only once the
// device can run the case back to back.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <string>

namespace sdpa::cudnn {

class LaunchGate {
 public:
  // Resolves cuStreamWaitValue32 through the runtime (no link against libcuda) and allocates the
  // mapped host word. Never throws: where either is missing, or `enabled` is false (the user
  // turned it off), available() is false and why_not() says why.
  explicit LaunchGate(bool enabled);
  ~LaunchGate();
  LaunchGate(const LaunchGate&) = delete;
  LaunchGate& operator=(const LaunchGate&) = delete;

  bool available() const { return word_ != nullptr && wait_ != nullptr; }
  const std::string& why_not() const { return why_not_; }

  // Queues, on `stream`, a wait until the host releases this hold; false (and the gate no
  // longer available, with why_not() saying why) where the driver refuses the wait. Every hold
  // must be released, on every path (see Hold): a stream left waiting would hang the next sync.
  bool hold(cudaStream_t stream);
  void release();

  // Holds on construction, releases on destruction: an exception between the two (a failed
  // launch) still frees the stream.
  class Hold {
   public:
    Hold(LaunchGate& gate, cudaStream_t stream) : gate_(gate.available() && gate.hold(stream) ? &gate : nullptr) {}
    bool held() const { return gate_ != nullptr; }
    ~Hold() {
      if (gate_) gate_->release();
    }
    Hold(const Hold&) = delete;
    Hold& operator=(const Hold&) = delete;

   private:
    LaunchGate* gate_;
  };

 private:
  void* wait_ = nullptr;  // PFN_cuStreamWaitValue32_v11070 (cudaTypedefs.h)
  volatile uint32_t* word_ = nullptr;  // mapped, pinned host memory the device polls
  unsigned long long word_device_ = 0;
  uint32_t ticket_ = 0;                // the value the pending hold waits for
  std::string why_not_;
};

}  // namespace sdpa::cudnn

// An optional coverage-guided fuzzer of the results-file readers (clang's libFuzzer), checking the
// same property as results_fuzz_test, which is what ctest runs (harness/results_fuzz_property.h).
// Its mutator is structure-aware: an input that parses as JSON is changed as a document (a field
// of another type, a case given twice, an edge format_version), anything else byte by byte.
// The readers need no backend, so the build leaves every backend out (minutes less under ASan):
//   cmake -G Ninja -B build/fuzz -DCMAKE_CXX_COMPILER=clang++ -DSDPA_LIBFUZZER=ON -DSDPA_SANITIZE=ON \
//         -DSDPA_WITH_BLOCKED_CPU=OFF -DSDPA_WITH_ONEDNN=OFF -DSDPA_WITH_CUDNN=OFF -DSDPA_WITH_VULKAN=OFF
//   cmake --build build/fuzz --target results_libfuzzer
//   cp -r harness/fuzz_corpus/results /tmp/corpus
//   build/fuzz/results_libfuzzer -runs=1000000 -timeout=10 -max_len=8192 -print_final_stats=1 /tmp/corpus
// A file it reports belongs in harness/fuzz_corpus/results/ (bad-*.json: refused; ok-*.json: read).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "harness/results_fuzz_property.h"

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  std::string why;
  if (sdpa::fuzz::check_results_text(std::string(reinterpret_cast<const char*>(data), size), &why) ==
      sdpa::fuzz::ResultsFuzzOutcome::broken) {
    std::fprintf(stderr, "results reader property broken: %s\n", why.c_str());
    std::abort();
  }
  return 0;
}

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
  using nlohmann::json;
  sdpa::fuzz::Rng rng{seed};
  json doc = json::parse(std::string(reinterpret_cast<const char*>(data), size), nullptr, false);
  if (doc.is_discarded() || rng.chance(10)) {
    // Not JSON (or one time in ten): bytes; sometimes a sound document to climb back from.
    if (rng.chance(20)) doc = sdpa::fuzz::sound_doc(rng);
    else return LLVMFuzzerMutate(data, size, max_size);
  }
  const int changes = 1 + static_cast<int>(rng.below(3));
  for (int i = 0; i < changes; ++i) sdpa::fuzz::mutate(doc, rng);
  const std::string text = doc.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() > max_size) return LLVMFuzzerMutate(data, size, max_size);
  std::memcpy(data, text.data(), text.size());
  return text.size();
}

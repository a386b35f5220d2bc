// An optional coverage-guided fuzzer of the spec parser (clang's libFuzzer), checking the same
// property as problem_fuzz_test, which is what CI runs. For long runs on a developer machine:
//   cmake -B build/fuzz -DCMAKE_CXX_COMPILER=clang++ -DSDPA_LIBFUZZER=ON && cmake --build build/fuzz --target problem_libfuzzer
//   build/fuzz/problem_libfuzzer -dict=core/fuzz_corpus/spec.dict -max_total_time=600 CORPUS_DIR
// A line it reports belongs in core/fuzz_corpus/specs.txt with the answer the parser must give.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/problem_fuzz_property.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  std::string why;
  if (sdpa::check_spec_line(std::string(reinterpret_cast<const char*>(data), size), &why) ==
      sdpa::SpecFuzzOutcome::broken) {
    std::fprintf(stderr, "spec parser property broken: %s\n", why.c_str());
    std::abort();
  }
  return 0;
}

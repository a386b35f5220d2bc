// The property both spec fuzzers check (core/problem_fuzz_test.cpp, run by CI, and the optional
// libFuzzer target core/problem_libfuzzer.cpp): a line either parses into a problem within the
// size and scale limits whose canonical line parses back to the same problem, or throws
// SpecError with the "problem spec: " prefix. Anything else is `broken`, with the reason.
#pragma once

#include <cmath>
#include <exception>
#include <string>
#include <string_view>
#include <typeinfo>

#include "core/problem.h"

namespace sdpa {

enum class SpecFuzzOutcome { parsed, refused, broken };

// The property: SpecError, or a problem within the limits whose canonical line round-trips.
inline SpecFuzzOutcome check_spec_line(const std::string& line, std::string* why) {
  try {
    const Problem p = parse_problem(line);
    const std::string canonical = p.to_string();
    const Problem again = parse_problem(canonical);
    if (!(again == p) || again.to_string() != canonical) {
      *why = "round trip changed the problem: " + canonical + " -> " + again.to_string();
      return SpecFuzzOutcome::broken;
    }
    if (p.q_elems() > kMaxTensorElems || p.k_elems() > kMaxTensorElems || p.v_elems() > kMaxTensorElems ||
        p.o_elems() > kMaxTensorElems || p.score_pairs() > kMaxScorePairs || !(p.scale() <= max_scale(p.d)) ||
        !std::isfinite(p.flops()) || !std::isfinite(p.io_bytes())) {
      *why = "parsed past the limits: " + canonical;
      return SpecFuzzOutcome::broken;
    }
    return SpecFuzzOutcome::parsed;
  } catch (const SpecError& e) {
    if (std::string_view(e.what()).substr(0, 14) != "problem spec: ") {
      *why = std::string("SpecError without the prefix: ") + e.what();
      return SpecFuzzOutcome::broken;
    }
    return SpecFuzzOutcome::refused;
  } catch (const std::exception& e) {
    *why = std::string("threw ") + typeid(e).name() + ": " + e.what();
  } catch (...) {
    *why = "threw a non-std exception";
  }
  return SpecFuzzOutcome::broken;
}

}  // namespace sdpa

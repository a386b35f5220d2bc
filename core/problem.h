// The problem spec: one line, benchdnn-style, that is both the input and the repro.
//   b=2,hq=8,hkv=2,sq=1024,skv=1024,d=64,dv=64,dtype=f16,mask=causal,scale=default,seed=7
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace sdpa {

enum class DType { f32, f16, bf16 };
enum class MaskKind { none, causal, causal_br, kvlen };

std::string_view to_string(DType dtype);
std::string_view to_string(MaskKind mask);
std::size_t storage_bytes(DType dtype);

// A malformed spec. The message names the key, the value and the rule it broke.
class SpecError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// Limits on the size of a problem, far above anything that runs, so that every count the
// layers derive from a spec (elements, byte sizes, row · column indices, pair counts) fits in
// int64 with room to spare, and a typo is refused up front instead of wrapping around.
//   2^40 elements per tensor: 4 TiB in f32, 2 TiB in f16, more than the memory of any host
//     or device this suite runs on; times 4 bytes or times a row index it stays below 2^63.
//   2^50 score pairs (b·hq·sq·skv): the naive kernel holds them all (4 PiB); a fused kernel at
//     1e12 pairs/s (an H100 at peak with d=64) needs 20 minutes for one run, and pair counts
//     stay exact in double (2^53), which visible_pairs() and flops() rely on.
inline constexpr int64_t kMaxTensorElems = int64_t{1} << 40;
inline constexpr int64_t kMaxScorePairs = int64_t{1} << 50;

// Every input value has |x| <= kMaxInputMagnitude: the generator (harness/inputs.cpp) draws
// N(0,1) by Box-Muller from 26-bit uniforms u1 >= 2^-27, so |x| <= sqrt(-2·ln 2^-27) = 6.1180,
// which rounds to at most 6.125 in bf16 (the coarsest dtype). The scale limit rests on it; a new
// input distribution must raise it if its values can be larger.
inline constexpr double kMaxInputMagnitude = 6.125;

// The distribution the inputs are drawn from (DESIGN's `dist` key). Every kind starts from the
// same counter-based N(0,1) draws, so a problem differs from its `normal` twin only by the
// transform: normal:σ scales Q, K and V by σ; uniform draws U(−√3, √3) (unit variance);
// outliers:c:m scales channels 0..c−1 of Q and K by m (the "massive activation" channels of
// real LLMs); shift:μ adds μ to Q and K (a common mean, as un-normalised activations have).
struct InputDist {
  enum class Kind { normal, uniform, outliers, shift };
  Kind kind = Kind::normal;
  double sigma = 1;      // normal:σ
  int64_t channels = 0;  // outliers:c:m
  double magnitude = 1;  // outliers:c:m
  double mu = 0;         // shift:μ
  bool is_default() const { return kind == Kind::normal && sigma == 1; }
  // The largest |x| an input can have (the scale limit rests on it); never below the N(0,1) one.
  double max_abs() const;
  std::string to_string() const;  // "normal", "normal:0.5", "outliers:4:20", ...
  bool operator==(const InputDist&) const = default;
};

struct Problem {
  int64_t b = 1;
  int64_t hq = 1;
  int64_t hkv = 1;
  int64_t sq = 1;
  int64_t skv = 1;
  int64_t d = 64;
  int64_t dv = 64;
  DType dtype = DType::f32;
  MaskKind mask = MaskKind::none;
  std::vector<int64_t> kvlen;          // valid keys per batch item, mask=kvlen only
  std::optional<double> scale_value;   // nullopt: the default 1/sqrt(d)
  uint64_t seed = 1;
  InputDist dist;  // printed in the spec line only when not the default N(0,1)

  double scale() const;

  // Every mask of the spec keeps a prefix of the keys: query row i of batch item bi
  // sees keys [0, visible_keys(bi, i)). 0 means a fully masked row (its output is 0).
  int64_t visible_keys(int64_t bi, int64_t i) const;

  // Query heads per key/value head (GQA group size); query head h reads kv head h / group().
  int64_t group() const { return hq / hkv; }

  // Element counts. A parsed problem is within kMaxTensorElems; a Problem built or edited by
  // hand whose count would overflow int64 throws SpecError instead of wrapping around.
  int64_t q_elems() const;
  int64_t k_elems() const;
  int64_t v_elems() const;
  int64_t o_elems() const;
  // b·hq·sq·skv, masked pairs included (what a kernel that materialises the scores holds).
  int64_t score_pairs() const;

  // Unmasked (query, key) pairs summed over batch and heads (closed form: O(b), not O(b·sq)).
  double visible_pairs() const;
  // 2·d FLOPs per visible pair for Q·Kᵀ and 2·dv for P·V (= 4·d per pair when d = dv);
  // masked pairs are not counted.
  double flops() const;
  // Bytes of Q, K, V and O in storage precision.
  double io_bytes() const;

  // The canonical spec line: every key, in a fixed order, so it pastes back as a repro.
  std::string to_string() const;

  bool operator==(const Problem&) const = default;
};

// The largest scale for which every logit is finite in f32, the compute type of the logits in
// every backend (16-bit dtypes included): see the derivation in problem.cpp.
double max_scale(int64_t d);
// The same for inputs bounded by `max_input` instead of kMaxInputMagnitude.
double max_scale(int64_t d, double max_input);

// "a, b, c": for messages that list what is known.
std::string join(const std::vector<std::string>& items, std::string_view sep);

// Parses a spec line; throws SpecError naming the offending key.
Problem parse_problem(std::string_view spec);

}  // namespace sdpa

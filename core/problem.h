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

  double scale() const;

  // Every mask of the spec keeps a prefix of the keys: query row i of batch item bi
  // sees keys [0, visible_keys(bi, i)). 0 means a fully masked row (its output is 0).
  int64_t visible_keys(int64_t bi, int64_t i) const;

  // Query heads per key/value head (GQA group size); query head h reads kv head h / group().
  int64_t group() const { return hq / hkv; }

  int64_t q_elems() const { return b * hq * sq * d; }
  int64_t k_elems() const { return b * hkv * skv * d; }
  int64_t v_elems() const { return b * hkv * skv * dv; }
  int64_t o_elems() const { return b * hq * sq * dv; }

  // Unmasked (query, key) pairs summed over batch and heads.
  double visible_pairs() const;
  // 2·d FLOPs per visible pair for Q·Kᵀ and 2·dv for P·V (= 4·d per pair when d = dv);
  // masked pairs are not counted.
  double flops() const;
  // Bytes of Q, K, V and O in storage precision.
  double io_bytes() const;

  // The canonical spec line: every key, in a fixed order, so it pastes back as a repro.
  std::string to_string() const;
};

// "a, b, c": for messages that list what is known.
std::string join(const std::vector<std::string>& items, std::string_view sep);

// Parses a spec line; throws SpecError naming the offending key.
Problem parse_problem(std::string_view spec);

}  // namespace sdpa

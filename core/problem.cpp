#include "core/problem.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <sstream>

namespace sdpa {

std::string_view to_string(DType dtype) {
  switch (dtype) {
    case DType::f32: return "f32";
    case DType::f16: return "f16";
    case DType::bf16: return "bf16";
  }
  return "?";
}

std::string_view to_string(MaskKind mask) {
  switch (mask) {
    case MaskKind::none: return "none";
    case MaskKind::causal: return "causal";
    case MaskKind::causal_br: return "causal_br";
    case MaskKind::kvlen: return "kvlen";
  }
  return "?";
}

std::size_t storage_bytes(DType dtype) { return dtype == DType::f32 ? 4 : 2; }

std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (const std::string& item : items) {
    if (!out.empty()) out += sep;
    out += item;
  }
  return out;
}

double Problem::scale() const {
  return scale_value ? *scale_value : 1.0 / std::sqrt(static_cast<double>(d));
}

int64_t Problem::visible_keys(int64_t bi, int64_t i) const {
  switch (mask) {
    case MaskKind::none: return skv;
    case MaskKind::causal: return std::min(skv, i + 1);
    case MaskKind::causal_br: return std::clamp<int64_t>(i + 1 + skv - sq, 0, skv);
    case MaskKind::kvlen: return std::min(skv, kvlen[static_cast<std::size_t>(bi)]);
  }
  return skv;
}

double Problem::visible_pairs() const {
  double pairs = 0;
  for (int64_t bi = 0; bi < b; ++bi) {
    double per_head = 0;
    if (mask == MaskKind::none || mask == MaskKind::kvlen) {
      per_head = static_cast<double>(sq) * static_cast<double>(visible_keys(bi, 0));
    } else {
      for (int64_t i = 0; i < sq; ++i) per_head += static_cast<double>(visible_keys(bi, i));
    }
    pairs += per_head * static_cast<double>(hq);
  }
  return pairs;
}

double Problem::flops() const { return visible_pairs() * 2.0 * static_cast<double>(d + dv); }

double Problem::io_bytes() const {
  return static_cast<double>(q_elems() + k_elems() + v_elems() + o_elems()) *
         static_cast<double>(storage_bytes(dtype));
}

std::string Problem::to_string() const {
  std::ostringstream out;
  out << "b=" << b << ",hq=" << hq << ",hkv=" << hkv << ",sq=" << sq << ",skv=" << skv
      << ",d=" << d << ",dv=" << dv << ",dtype=" << sdpa::to_string(dtype) << ",mask=";
  if (mask == MaskKind::kvlen) {
    out << "kvlen:";
    for (std::size_t i = 0; i < kvlen.size(); ++i) out << (i ? "/" : "") << kvlen[i];
  } else {
    out << sdpa::to_string(mask);
  }
  out << ",scale=";
  if (scale_value) {
    std::ostringstream num;
    num.precision(17);
    num << *scale_value;
    out << num.str();
  } else {
    out << "default";
  }
  out << ",seed=" << seed;
  return out.str();
}

namespace {

[[noreturn]] void fail(std::string_view key, std::string_view value, std::string_view rule) {
  std::string msg = "problem spec: ";
  msg += key;
  if (!value.empty()) {
    msg += "=";
    msg += value;
  }
  msg += ": ";
  msg += rule;
  throw SpecError(msg);
}

int64_t parse_int(std::string_view key, std::string_view value, int64_t min_value) {
  int64_t result = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), result);
  if (ec != std::errc() || end != value.data() + value.size()) {
    fail(key, value, "must be an integer");
  }
  if (result < min_value) fail(key, value, "must be >= " + std::to_string(min_value));
  return result;
}

// Dimensions beyond this are a typo, not a problem: they would overflow the index math
// of every backend long before memory runs out.
constexpr int64_t kMaxDim = int64_t{1} << 24;

int64_t parse_dim(std::string_view key, std::string_view value) {
  int64_t v = parse_int(key, value, 1);
  if (v > kMaxDim) fail(key, value, "must be <= " + std::to_string(kMaxDim));
  return v;
}

std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    std::size_t pos = text.find(sep, start);
    parts.push_back(text.substr(start, pos == std::string_view::npos ? pos : pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return parts;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

}  // namespace

Problem parse_problem(std::string_view spec) {
  Problem p;
  std::map<std::string, std::string, std::less<>> seen;
  spec = trim(spec);
  if (spec.empty()) fail("spec", "", "is empty; expected key=value pairs separated by ','");
  for (std::string_view item : split(spec, ',')) {
    item = trim(item);
    auto eq = item.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      fail(item, "", "expected key=value");
    }
    std::string key(trim(item.substr(0, eq)));
    std::string value(trim(item.substr(eq + 1)));
    if (value.empty()) fail(key, "", "has no value");
    if (!seen.emplace(key, value).second) fail(key, value, "is given twice");
  }

  auto get = [&](std::string_view key) -> const std::string* {
    auto it = seen.find(key);
    return it == seen.end() ? nullptr : &it->second;
  };
  static const std::vector<std::string_view> known = {"b",  "h",    "hq",   "hkv",   "sq",  "skv",
                                                      "d",  "dv",   "dtype", "mask", "scale", "seed"};
  for (const auto& [key, value] : seen) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      fail(key, value, "unknown key; known keys: b,h,hq,hkv,sq,skv,d,dv,dtype,mask,scale,seed");
    }
  }

  if (auto v = get("b")) p.b = parse_dim("b", *v);
  if (get("h") && get("hq")) fail("h", *get("h"), "give h or hq, not both (h is an alias of hq)");
  if (auto v = get("h")) p.hq = parse_dim("h", *v);
  if (auto v = get("hq")) p.hq = parse_dim("hq", *v);
  p.hkv = p.hq;
  if (auto v = get("hkv")) p.hkv = parse_dim("hkv", *v);
  if (p.hq % p.hkv != 0) {
    fail("hkv", *get("hkv"), "hq=" + std::to_string(p.hq) + " must be a multiple of hkv");
  }
  if (auto v = get("sq")) p.sq = parse_dim("sq", *v);
  p.skv = p.sq;
  if (auto v = get("skv")) p.skv = parse_dim("skv", *v);
  if (auto v = get("d")) p.d = parse_dim("d", *v);
  p.dv = p.d;
  if (auto v = get("dv")) p.dv = parse_dim("dv", *v);

  if (auto v = get("dtype")) {
    if (*v == "f32") p.dtype = DType::f32;
    else if (*v == "f16") p.dtype = DType::f16;
    else if (*v == "bf16") p.dtype = DType::bf16;
    else fail("dtype", *v, "must be one of f32, f16, bf16");
  }

  if (auto v = get("mask")) {
    std::string_view m = *v;
    if (m == "none") p.mask = MaskKind::none;
    else if (m == "causal") p.mask = MaskKind::causal;
    else if (m == "causal_br") p.mask = MaskKind::causal_br;
    else if (m.substr(0, 6) == "kvlen:") {
      p.mask = MaskKind::kvlen;
      for (std::string_view len : split(m.substr(6), '/')) {
        int64_t l = parse_int("mask", len, 0);
        if (l > p.skv) {
          fail("mask", m, "kvlen " + std::to_string(l) + " exceeds skv=" + std::to_string(p.skv));
        }
        p.kvlen.push_back(l);
      }
      if (static_cast<int64_t>(p.kvlen.size()) != p.b) {
        fail("mask", m, "kvlen needs one length per batch item (b=" + std::to_string(p.b) + ", got " +
                            std::to_string(p.kvlen.size()) + ")");
      }
    } else {
      fail("mask", m, "must be none, causal, causal_br or kvlen:L1/L2/...");
    }
  }

  if (auto v = get("scale")) {
    if (*v != "default") {
      double s = 0;
      auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), s);
      if (ec != std::errc() || end != v->data() + v->size() || !std::isfinite(s) || s <= 0) {
        fail("scale", *v, "must be 'default' (1/sqrt(d)) or a positive finite number");
      }
      p.scale_value = s;
    }
  }
  if (auto v = get("seed")) p.seed = static_cast<uint64_t>(parse_int("seed", *v, 0));
  return p;
}

}  // namespace sdpa

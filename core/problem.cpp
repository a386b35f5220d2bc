#include "core/problem.h"

#include <algorithm>
#include <charconv>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <initializer_list>
#include <limits>
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

namespace {

// Bytes outside printable ASCII are written \xNN: a NUL cut the message short (what() is a C
// string), and a zero-width space or a fullwidth '=' in a key was invisible in it.
std::string printable(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

[[noreturn]] void fail(std::string_view key, std::string_view value, std::string_view rule) {
  std::string msg = "problem spec: ";
  msg += key;
  if (!value.empty()) {
    msg += "=";
    msg += value;
  }
  msg += ": ";
  msg += rule;
  throw SpecError(printable(msg));
}

// "1103806595072 (2^40.01)", or "2^64" past int64, where no exact decimal is worth printing.
std::string describe_count(std::initializer_list<int64_t> factors, bool fits, int64_t product) {
  double log2 = 0;
  for (int64_t f : factors) log2 += std::log2(static_cast<double>(f));
  char power[32], buf[64];
  std::snprintf(power, sizeof power, log2 == std::floor(log2) ? "2^%.0f" : "2^%.2f", log2);
  if (!fits) return power;
  std::snprintf(buf, sizeof buf, "%lld (%s)", static_cast<long long>(product), power);
  return buf;
}

// The product of `factors` if it is at most `limit`, checked at every step so it never wraps;
// otherwise SpecError naming the keys, their values, the size and the limit.
int64_t checked_count(std::string_view keys, std::initializer_list<int64_t> factors, int64_t limit,
                      std::string_view what, std::string_view why) {
  int64_t product = 1;
  bool fits = true;
  for (int64_t f : factors) fits = fits && !__builtin_mul_overflow(product, f, &product);
  const bool negative = std::any_of(factors.begin(), factors.end(), [](int64_t f) { return f < 0; });
  if (fits && !negative && product <= limit) return product;
  std::string values;
  for (int64_t f : factors) {
    if (!values.empty()) values += '*';
    values += std::to_string(f);
  }
  if (negative) fail(keys, values, "a dimension is negative");
  fail(keys, values,
       "the problem needs " + describe_count(factors, fits, product) + " " + std::string(what) + ", " +
           std::string(why));
}

constexpr int64_t kNoLimit = std::numeric_limits<int64_t>::max();

}  // namespace

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

int64_t Problem::q_elems() const {
  return checked_count("b*hq*sq*d", {b, hq, sq, d}, kNoLimit, "elements of Q", "more than int64 counts");
}
int64_t Problem::k_elems() const {
  return checked_count("b*hkv*skv*d", {b, hkv, skv, d}, kNoLimit, "elements of K", "more than int64 counts");
}
int64_t Problem::v_elems() const {
  return checked_count("b*hkv*skv*dv", {b, hkv, skv, dv}, kNoLimit, "elements of V", "more than int64 counts");
}
int64_t Problem::o_elems() const {
  return checked_count("b*hq*sq*dv", {b, hq, sq, dv}, kNoLimit, "elements of O", "more than int64 counts");
}
int64_t Problem::score_pairs() const {
  return checked_count("b*hq*sq*skv", {b, hq, sq, skv}, kNoLimit, "score pairs", "more than int64 counts");
}

double Problem::visible_pairs() const {
  // Sums of the visible_keys() prefix lengths over the rows of one head, in closed form so a
  // problem with 2^24 rows costs nothing to count. Every term stays below 2^53: exact.
  const auto n_q = static_cast<double>(sq), n_kv = static_cast<double>(skv);
  const auto triangle = [](double n) { return n * (n + 1) / 2; };  // 1 + 2 + ... + n
  double per_head = 0;
  switch (mask) {
    case MaskKind::none: per_head = n_q * n_kv; break;
    case MaskKind::causal: {  // row i sees min(skv, i + 1)
      const double t = std::min(n_q, n_kv);
      per_head = triangle(t) + (n_q - t) * n_kv;
      break;
    }
    case MaskKind::causal_br: {  // row i sees i + 1 + (skv - sq) keys, clamped at 0
      const double offset = n_kv - n_q;
      per_head = offset >= 0 ? triangle(n_kv) - triangle(offset) : triangle(n_kv);
      break;
    }
    case MaskKind::kvlen: {
      double keys = 0;
      for (int64_t bi = 0; bi < b; ++bi) keys += static_cast<double>(visible_keys(bi, 0));
      return keys * n_q * static_cast<double>(hq);
    }
  }
  return per_head * static_cast<double>(hq) * static_cast<double>(b);
}

double Problem::flops() const { return visible_pairs() * 2.0 * static_cast<double>(d + dv); }

double Problem::io_bytes() const {
  return (static_cast<double>(q_elems()) + static_cast<double>(k_elems()) + static_cast<double>(v_elems()) +
          static_cast<double>(o_elems())) *
         static_cast<double>(storage_bytes(dtype));
}

// Every backend computes the logits in f32 (16-bit dtypes too: their products are exact in f32
// and tensor cores accumulate in f32), and |logit| <= scale·Σᵢ|qᵢkᵢ| <= scale·d·kMaxInputMagnitude².
// The factor 4 leaves room for what kernels do next: s − max (spans twice the largest |logit|)
// and folding log2(e) = 1.44 into the scale for exp2. Beyond this limit an f32 logit overflows
// to inf, and the row is NaN (inf − inf) in the kernel while the fp64 reference is finite, or
// NaN in both when the scale also overflows double (scale=1e308).
double max_scale(int64_t d) { return max_scale(d, kMaxInputMagnitude); }

double max_scale(int64_t d, double max_input) {
  return static_cast<double>(std::numeric_limits<float>::max()) /
         (4.0 * static_cast<double>(std::max<int64_t>(d, 1)) * max_input * max_input);
}

double InputDist::max_abs() const {
  // 1.01: rounding to the dtype may push a value up by less than one bf16 ulp (2^-8).
  switch (kind) {
    case Kind::normal: return sigma <= 1 ? kMaxInputMagnitude : 1.01 * kMaxInputMagnitude * sigma;
    case Kind::uniform: return kMaxInputMagnitude;
    case Kind::outliers: return magnitude <= 1 ? kMaxInputMagnitude : 1.01 * kMaxInputMagnitude * magnitude;
    case Kind::shift: return 1.01 * (kMaxInputMagnitude + std::abs(mu));
  }
  return kMaxInputMagnitude;
}

std::string InputDist::to_string() const {
  std::ostringstream out;
  out.precision(17);
  switch (kind) {
    case Kind::normal: out << "normal"; if (sigma != 1) out << ":" << sigma; break;
    case Kind::uniform: out << "uniform"; break;
    case Kind::outliers: out << "outliers:" << channels << ":" << magnitude; break;
    case Kind::shift: out << "shift:" << mu; break;
  }
  return out.str();
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
  // Only when not N(0,1): the spec lines of every earlier results file and baseline stay as they were.
  if (!dist.is_default()) out << ",dist=" << dist.to_string();
  return out.str();
}

namespace {

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

// An empty item has a comma on at least one side; naming that comma's column (1-based, in the
// line as given) points at the typo where "problem spec: : expected key=value" did not.
[[noreturn]] void fail_empty_item(std::string_view spec, std::string_view item) {
  const auto at = static_cast<std::size_t>(item.data() - spec.data());
  const bool comma_before = at > 0 && spec[at - 1] == ',';
  const bool comma_after = at + item.size() < spec.size() && spec[at + item.size()] == ',';
  std::string where = comma_before ? "after the ',' at position " + std::to_string(at)
                                   : "before the ',' at position " + std::to_string(at + item.size() + 1);
  const char* hint = comma_before && comma_after ? "a double comma?" : comma_before ? "a trailing comma?"
                                                                                  : "a leading comma?";
  throw SpecError("problem spec: empty item " + where + " (" + hint + ")");
}

bool parse_number(std::string_view text, double& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size() && std::isfinite(out);
}

void parse_dist(Problem& p, std::string_view value) {
  const std::string rule =
      "must be normal, normal:SIGMA (0 < SIGMA <= 1e4), uniform, outliers:C:M (channels 1 <= C <= d of Q and K "
      "scaled by 0 < M <= 1e4) or shift:MU (|MU| <= 1e4, added to Q and K)";
  const std::vector<std::string_view> parts = split(value, ':');
  InputDist& d = p.dist;
  const std::string_view kind = parts.empty() ? value : parts[0];
  bool ok = false;
  if (kind == "normal" && parts.size() <= 2) {
    d.kind = InputDist::Kind::normal;
    ok = parts.size() == 1 || (parse_number(parts[1], d.sigma) && d.sigma > 0 && d.sigma <= 1e4);
  } else if (kind == "uniform" && parts.size() == 1) {
    d.kind = InputDist::Kind::uniform;
    ok = true;
  } else if (kind == "outliers" && parts.size() == 3) {
    d.kind = InputDist::Kind::outliers;
    double c = 0;
    ok = parse_number(parts[1], c) && c >= 1 && c <= static_cast<double>(p.d) && c == std::floor(c) &&
         parse_number(parts[2], d.magnitude) && d.magnitude > 0 && d.magnitude <= 1e4;
    d.channels = static_cast<int64_t>(c);
  } else if (kind == "shift" && parts.size() == 2) {
    d.kind = InputDist::Kind::shift;
    ok = parse_number(parts[1], d.mu) && std::abs(d.mu) <= 1e4;
  }
  if (!ok) fail("dist", value, rule);
}

void parse_scale(Problem& p, std::string_view value) {
  if (value == "default") return;
  double s = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), s);
  const double lo = std::numeric_limits<float>::min(), hi = max_scale(p.d, p.dist.max_abs());
  if (ec != std::errc() || end != value.data() + value.size() || !(s >= lo && s <= hi)) {
    // Below 2^-126 the scale is no longer a normal f32, which is what every kernel multiplies by.
    char rule[256];
    std::snprintf(rule, sizeof rule,
                  "must be 'default' (1/sqrt(d)) or a number from 2^-126 to %.3g for d=%lld: kernels compute "
                  "logits in f32, and 4*scale*d*%.3f^2 (four times the largest |logit|) must stay below its "
                  "maximum %.3g",
                  hi, static_cast<long long>(p.d), p.dist.max_abs(),
                  static_cast<double>(std::numeric_limits<float>::max()));
    fail("scale", value, rule);
  }
  p.scale_value = s;
}

void parse_kvlen(Problem& p, std::string_view mask) {
  p.mask = MaskKind::kvlen;
  for (std::string_view len : split(mask.substr(6), '/')) {
    int64_t l = 0;
    auto [end, ec] = std::from_chars(len.data(), len.data() + len.size(), l);
    if (ec != std::errc() || end != len.data() + len.size() || l < 0) {
      fail("mask", mask, "kvlen lengths must be integers >= 0 ('" + std::string(len) + "' is not)");
    }
    if (l > p.skv) fail("mask", mask, "kvlen " + std::to_string(l) + " exceeds skv=" + std::to_string(p.skv));
    p.kvlen.push_back(l);
  }
  if (static_cast<int64_t>(p.kvlen.size()) != p.b) {
    fail("mask", mask, "kvlen needs one length per batch item (b=" + std::to_string(p.b) + ", got " +
                           std::to_string(p.kvlen.size()) + ")");
  }
}

}  // namespace

Problem parse_problem(std::string_view spec) {
  Problem p;
  std::map<std::string, std::string, std::less<>> seen;
  const std::string_view line = spec;
  spec = trim(spec);
  if (spec.empty()) fail("spec", "", "is empty; expected key=value pairs separated by ','");
  for (std::string_view raw : split(spec, ',')) {
    std::string_view item = trim(raw);
    if (item.empty()) fail_empty_item(line, raw);
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
                                                      "d",  "dv",   "dtype", "mask", "scale", "seed", "dist"};
  for (const auto& [key, value] : seen) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      fail(key, value, "unknown key; known keys: b,h,hq,hkv,sq,skv,d,dv,dtype,mask,scale,seed,dist");
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

  // Each key is within its bound; their products need not be (kMaxTensorElems says why).
  const char* kTooBig = "more than any machine holds (at most 2^40 per tensor)";
  checked_count("b*hq*sq*d", {p.b, p.hq, p.sq, p.d}, kMaxTensorElems, "elements of Q", kTooBig);
  checked_count("b*hkv*skv*d", {p.b, p.hkv, p.skv, p.d}, kMaxTensorElems, "elements of K", kTooBig);
  checked_count("b*hkv*skv*dv", {p.b, p.hkv, p.skv, p.dv}, kMaxTensorElems, "elements of V", kTooBig);
  checked_count("b*hq*sq*dv", {p.b, p.hq, p.sq, p.dv}, kMaxTensorElems, "elements of O", kTooBig);
  checked_count("b*hq*sq*skv", {p.b, p.hq, p.sq, p.skv}, kMaxScorePairs, "score pairs",
                "more than any kernel gets through in a benchmark (at most 2^50)");

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
    else if (m.substr(0, 6) == "kvlen:") parse_kvlen(p, m);
    else fail("mask", m, "must be none, causal, causal_br or kvlen:L1/L2/...");
  }

  if (auto v = get("dist")) parse_dist(p, *v);  // before scale: the scale limit depends on it
  if (auto v = get("scale")) parse_scale(p, *v);
  if (auto v = get("seed")) {
    auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), p.seed);
    if (ec != std::errc() || end != v->data() + v->size()) {
      fail("seed", *v, "must be an integer from 0 to 18446744073709551615 (2^64-1)");
    }
  }
  return p;
}

}  // namespace sdpa

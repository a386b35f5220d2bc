// A fuzzer for the spec parser that CI runs as a plain test: a million generated and mutated
// spec lines (keys, values, separators, huge numbers, bytes that are not ASCII) must each either
// parse into a problem whose canonical line parses back to the same problem, or throw SpecError.
// Any other exception, or a crash, is a bug; so is a parsed problem past the size or scale limits.
// The inputs are a pure function of the seed: a failure prints the input, and the seed reproduces
// the run (SDPA_FUZZ_SEED, SDPA_FUZZ_INPUTS override the defaults).
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>
#include <typeinfo>
#include <vector>

#include "core/problem.h"
#include "core/problem_fuzz_property.h"

namespace sdpa {
namespace {

// splitmix64: fast, and every seed gives a full-period stream.
struct Rng {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  uint64_t below(uint64_t n) { return next() % n; }
  bool chance(int percent) { return below(100) < static_cast<uint64_t>(percent); }
  template <class T, std::size_t N>
  const T& pick(const T (&items)[N]) { return items[below(N)]; }
};

// Bytes a user or a broken script can put in a spec besides the grammar's own.
constexpr std::string_view kOddBytes[] = {
    "\xc3\xa9", "\xe2\x80\x8b" /* zero-width space */, "\xef\xbc\x9d" /* fullwidth = */, "\xff", "\x80",
    std::string_view("\0", 1), "\t", "\n", " ", "\xf0\x9f\x98\x80", "=", ",", "/", ":", "-", "+", ".", "e", "\\", "\""};

std::string int_value(Rng& rng) {
  static const char* const kEdges[] = {"0", "1", "-1", "+4", "007", "16777216", "16777217", "65536", "1e3", "0x10",
                                       "9223372036854775807", "9223372036854775808", "18446744073709551615",
                                       "18446744073709551616", "99999999999999999999999999", "-9223372036854775808",
                                       "4.0", " 8", "", "nan"};
  if (rng.chance(15)) return rng.pick(kEdges);
  // Mostly small, sometimes up to 2^24 and beyond: products past the limits must be refused.
  const int bits = rng.chance(75) ? 1 + static_cast<int>(rng.below(7)) : 1 + static_cast<int>(rng.below(26));
  return std::to_string(1 + rng.below(uint64_t{1} << bits));
}

std::string scale_value(Rng& rng) {
  static const char* const kEdges[] = {"default", "nan", "inf", "-inf", "-0", "0", "1e308", "1e-320", "1e-38",
                                       "1.1754943508222875e-38", "3.4e38", "0x1p-3", "1e", ".5", "5.", "1e+5",
                                       "DEFAULT", "1,5", "2.5e33", "3.5e34"};
  if (rng.chance(30)) return rng.pick(kEdges);
  char buf[48];
  const double mantissa = static_cast<double>(rng.below(1000000)) / 1000.0;
  std::snprintf(buf, sizeof buf, rng.chance(50) ? "%.17g" : "%g", std::ldexp(mantissa, static_cast<int>(rng.below(260)) - 130));
  return buf;
}

std::string mask_value(Rng& rng) {
  static const char* const kKinds[] = {"none", "causal", "causal_br", "Causal", "kvlen", "kvlen:", "window", ""};
  if (rng.chance(60)) return rng.pick(kKinds);
  std::string m = "kvlen:";
  const uint64_t n = rng.below(5);
  for (uint64_t i = 0; i <= n; ++i) {
    if (i > 0) m += '/';
    m += rng.chance(90) ? std::to_string(rng.below(70)) : int_value(rng);
  }
  if (rng.chance(5)) m += "/";
  return m;
}

std::string value_for(Rng& rng, std::string_view key) {
  if (key == "dtype") {
    static const char* const kTypes[] = {"f32", "f16", "bf16", "F16", "f64", "fp16", "", "f16 "};
    return rng.pick(kTypes);
  }
  if (key == "mask") return mask_value(rng);
  if (key == "scale") return scale_value(rng);
  if (key == "seed") return rng.chance(50) ? std::to_string(rng.next()) : int_value(rng);
  return int_value(rng);
}

// A line built from the grammar, with some of its rules broken.
std::string generate(Rng& rng) {
  static constexpr std::string_view kKeys[] = {"b", "h", "hq", "hkv", "sq", "skv", "d", "dv", "dtype", "mask", "scale", "seed",
                                      "heads", "SQ", "d ", " sq", "", "dist"};
  std::string line;
  const uint64_t items = rng.below(9);
  for (uint64_t i = 0; i < items; ++i) {
    if (i > 0) line += rng.chance(94) ? "," : rng.chance(50) ? ",," : rng.pick(kOddBytes);
    const std::string_view key = rng.chance(96) ? rng.pick(kKeys) : rng.pick(kOddBytes);
    line += key;
    line += rng.chance(97) ? "=" : rng.pick(kOddBytes);
    line += value_for(rng, key);
  }
  if (rng.chance(3)) line += ",";
  if (rng.chance(3)) line = " " + line + " ";
  return line;
}

// A line derived from a valid one by byte-level edits.
std::string mutate(Rng& rng, std::string line) {
  const uint64_t edits = 1 + rng.below(3);
  for (uint64_t e = 0; e < edits; ++e) {
    const std::size_t at = line.empty() ? 0 : rng.below(line.size() + 1);
    switch (rng.below(6)) {
      case 0:  // flip a bit
        if (at < line.size()) line[at] = static_cast<char>(line[at] ^ (1 << rng.below(8)));
        break;
      case 1: line.insert(at, rng.pick(kOddBytes)); break;
      case 2: line.erase(at, rng.below(6)); break;
      case 3:  // duplicate a piece (a key given twice, a doubled digit run)
        if (at < line.size()) {
          const std::string piece = line.substr(at, 1 + rng.below(8));
          line.insert(at, piece);
        }
        break;
      case 4: line.insert(at, std::to_string(rng.next())); break;  // a huge number
      default: line.insert(at, 1, rng.chance(50) ? ',' : '='); break;
    }
  }
  return line;
}

std::string printable(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

uint64_t env_or(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}

TEST(ProblemSpecFuzz, EveryLineParsesAndRoundTripsOrThrowsSpecError) {
  const uint64_t seed = env_or("SDPA_FUZZ_SEED", 20261201);
  const uint64_t inputs = env_or("SDPA_FUZZ_INPUTS", 1'000'000);
  Rng rng{seed};
  std::vector<std::string> valid = {"b=2,hq=8,hkv=2,sq=1024,skv=1024,d=64,dv=64,dtype=f16,mask=causal,scale=default,seed=7",
                                    "b=3,h=4,sq=5,skv=9,d=40,dv=24,dtype=bf16,mask=kvlen:9/0/3,scale=0.125,seed=11"};
  uint64_t parsed = 0, refused = 0, broken = 0;
  const auto start = std::chrono::steady_clock::now();
  const std::clock_t cpu_start = std::clock();
  for (uint64_t i = 0; i < inputs; ++i) {
    const std::string line = rng.chance(50) ? generate(rng) : mutate(rng, valid[rng.below(valid.size())]);
    std::string why;
    switch (check_spec_line(line, &why)) {
      case SpecFuzzOutcome::parsed:
        ++parsed;
        // Later mutations start from lines that parse, so they probe near the accepted language.
        if (valid.size() < 4096) valid.push_back(line);
        else valid[rng.below(valid.size())] = line;
        break;
      case SpecFuzzOutcome::refused: ++refused; break;
      case SpecFuzzOutcome::broken:
        ++broken;
        if (broken <= 10) ADD_FAILURE() << "input #" << i << " (seed " << seed << "): \"" << printable(line) << "\": " << why;
        break;
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double cpu_seconds = static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
  std::printf("fuzz: %llu inputs in %.2f s wall, %.2f s cpu (%.0f/s of cpu): %llu parsed, %llu refused, %llu broken\n",
              static_cast<unsigned long long>(inputs), seconds, cpu_seconds, static_cast<double>(inputs) / cpu_seconds,
              static_cast<unsigned long long>(parsed), static_cast<unsigned long long>(refused),
              static_cast<unsigned long long>(broken));
  EXPECT_EQ(broken, 0u);
  // A generator that only ever produced garbage (or only valid lines) would prove little.
  EXPECT_GT(parsed, inputs / 20);
  EXPECT_GT(refused, inputs / 20);
}

// The regression corpus: every hostile line met so far, with what the parser must say about it.
// A line is "<spec> => <fragment of the SpecError>" or "<spec> => ok"; bytes outside printable
// ASCII are written \xNN.
std::string unescape(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] == 'x') {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 2, 2)), nullptr, 16));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

TEST(ProblemSpecFuzz, TheRegressionCorpusGetsTheExpectedAnswers) {
  std::ifstream file(std::string(SDPA_SOURCE_DIR) + "/core/fuzz_corpus/specs.txt");
  ASSERT_TRUE(file) << "core/fuzz_corpus/specs.txt";
  std::string raw;
  int entries = 0;
  while (std::getline(file, raw)) {
    if (raw.empty() || raw[0] == '#') continue;
    const std::size_t arrow = raw.rfind(" => ");
    ASSERT_NE(arrow, std::string::npos) << "corpus line without ' => ': " << raw;
    const std::string line = unescape(raw.substr(0, arrow));
    const std::string expect = raw.substr(arrow + 4);
    std::string why;
    const SpecFuzzOutcome outcome = check_spec_line(line, &why);
    ASSERT_NE(outcome, SpecFuzzOutcome::broken) << raw << ": " << why;
    if (expect == "ok") {
      EXPECT_EQ(outcome, SpecFuzzOutcome::parsed) << raw;
    } else {
      std::string message;
      try {
        parse_problem(line);
      } catch (const SpecError& e) {
        message = e.what();
      }
      EXPECT_NE(message.find(expect), std::string::npos) << raw << "\n  said: " << message;
    }
    ++entries;
  }
  EXPECT_GE(entries, 10);
}

}  // namespace
}  // namespace sdpa

#!/usr/bin/env python3
"""Parity of the one Python problem reader (scripts/report_lib/problem.py, used by the report and
every peer) with the C++ parser (core/problem.cpp). Needs no peer wheels and no NumPy.

- Core's regression corpus (core/fuzz_corpus/specs.txt): every line gets the corpus's answer
  (parses, or refuses with that fragment of the message), as core/problem_fuzz_test.cpp demands
  of the C++ parser; a parsed line's canonical line parses back to the same problem.
- Where the sdpa-bench binary is found (SDPA_BENCH_EXE, else build/release/sdpa-bench), the
  corpus and a few hundred generated lines go through it too: the same lines are refused with
  the same message, and accepted ones have the same canonical line (the C++ side is asked with
  `check --filter '^(?!<python's canonical line>$)' --shard 1/2`, which runs nothing: it
  answers "left none of the 1 problems" exactly when the C++ canonical line is Python's).

    python3 -m unittest discover -s scripts/peers -p 'problem_test.py'
"""

import os
import random
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from report_lib.problem import REPO, SpecError, load_suite, parse_problem, try_parse  # noqa: E402

CORPUS = os.path.join(REPO, "core", "fuzz_corpus", "specs.txt")


def unescape(text):
    """A corpus line's \\xNN escapes as bytes (core/problem_fuzz_test.cpp's unescape)."""
    return re.sub(rb"\\x([0-9a-fA-F]{2})", lambda m: bytes([int(m.group(1), 16)]), text.encode("latin-1"))


def corpus():
    """(spec bytes, expected: 'ok' or a message fragment) per corpus line."""
    out = []
    with open(CORPUS, encoding="latin-1") as f:
        for raw in f:
            raw = raw.rstrip("\n")
            if not raw or raw.startswith("#"):
                continue
            spec, arrow, expect = raw.rpartition(" => ")
            assert arrow, f"corpus line without ' => ': {raw}"
            out.append((unescape(spec), expect))
    return out


def python_answer(spec):
    """('ok', canonical line) or ('refused', message)."""
    try:
        p = parse_problem(spec)
    except SpecError as e:
        return "refused", str(e)
    return "ok", p.to_string()


def sdpa_bench():
    exe = os.environ.get("SDPA_BENCH_EXE") or os.path.join(REPO, "build", "release", "sdpa-bench")
    return exe if os.path.isfile(exe) and os.access(exe, os.X_OK) else None


def cpp_answer(exe, spec, canonical):
    """The C++ parser's answer to spec: ('refused', message), ('same', None) where its canonical
    line is `canonical`, or ('other', output) where it accepted the line with another one."""
    args = [exe, "check", "--backend", "naive", "--problem", spec,
            "--shard", "1/2"]
    if canonical is not None:
        args += ["--filter", "^(?!" + re.escape(canonical) + "$)"]
    r = subprocess.run(args, capture_output=True, timeout=60)
    err = r.stderr.decode("latin-1")
    m = re.search(r"error: (problem spec: .*)", err)
    if m:
        return "refused", m.group(1).rstrip("\r")
    if "left none of the 1 problems" in err:
        return "same", None
    return "other", (r.stdout + r.stderr).decode("latin-1")[-600:]


def generated_lines(count, seed=23):
    """Specs mixing keys, values and separators (a small cousin of core's fuzzer): mostly valid
    values, so that about half the lines parse, and edge values in every key now and then."""
    rng = random.Random(seed)
    good = {
        "int": ["1", "2", "3", "4", "8", "16", "64", "128", "256"],
        "dtype": ["f32", "f16", "bf16"],
        "mask": ["none", "causal", "causal_br"],
        "scale": ["default", ".5", "5.", "0.125", "1e-3", "100", "2.5e-2", "0.088388347648318"],
        "dist": ["normal", "normal:0.5", "normal:2", "uniform", "outliers:1:20", "outliers:2:1e4", "shift:3",
                 "shift:-1e4", "normal:1"],
    }
    bad = {
        "int": ["0", "-1", "+4", "007", "16777216", "16777217", "1e3", "0x10", "9223372036854775807",
                "9223372036854775808", "18446744073709551615", "18446744073709551616", "4.0", "nan", "1_0"],
        "dtype": ["F16", "f8", "fp16"],
        "mask": ["Causal", "kvlen", "kvlen:", "kvlen:-1", "kvlen:+1", "kvlen:999", "window"],
        "scale": ["nan", "inf", "-0", "0", "1e308", "1e-320", "1e-38", "3.4e38", "0x1p-3", "1e", "1e+5",
                  "2.5e33", "3.5e34", "DEFAULT"],
        "dist": ["normal:0", "normal:1e5", "uniform:1", "outliers:4.5:2", "outliers:0:2", "outliers:70:2",
                 "shift:1e5", "lognormal", "normal:"],
    }
    kinds = {"b": "int", "h": "int", "hq": "int", "hkv": "int", "sq": "int", "skv": "int", "d": "int", "dv": "int",
             "dtype": "dtype", "mask": "mask", "scale": "scale", "seed": "int", "dist": "dist"}
    lines = []
    for _ in range(count):
        keys = rng.sample(list(kinds), rng.randint(1, 7))
        items = []
        for key in keys:
            kind = kinds[key]
            if key == "mask" and rng.random() < 0.2:
                b = next((v for k, v in items if k == "b"), "1")
                value = "kvlen:" + "/".join(str(rng.randint(0, 3)) for _ in range(int(b) if b.isdigit() and
                                                                                    int(b) < 9 else 2))
            elif key == "seed" and rng.random() < 0.3:
                value = rng.choice(["0", "18446744073709551615", "9223372036854775808"])
            else:
                value = rng.choice(bad[kind] if rng.random() < 0.06 else good[kind])
            items.append((key, value))
        if rng.random() < 0.03:
            items.append(items[-1])  # given twice
        if rng.random() < 0.03:
            items.append(("colour", "red"))
        sep = rng.choice([",", ",", ",", ", ", " ,"])
        line = sep.join(f"{k}={v}" for k, v in items)
        r = rng.random()
        if r < 0.02:
            line += ","
        elif r < 0.04:
            line = line.replace(",", ",,", 1)
        elif r < 0.06:
            line = "\t" + line + " "
        elif r < 0.07:
            line = line.replace("=", "\u200b=", 1)
        lines.append(line.encode("utf-8"))
    return lines


class CorpusTest(unittest.TestCase):
    def test_every_corpus_line_gets_the_corpus_answer(self):
        entries = corpus()
        self.assertGreaterEqual(len(entries), 10)
        for spec, expect in entries:
            with self.subTest(spec=spec):
                kind, text = python_answer(spec)
                if expect == "ok":
                    self.assertEqual(kind, "ok", text)
                    again = parse_problem(text)
                    self.assertEqual(again.to_string(), text)
                    self.assertEqual(again, parse_problem(spec))
                else:
                    self.assertEqual(kind, "refused", f"parsed as {text}")
                    self.assertTrue(text.startswith("problem spec: "), text)
                    self.assertIn(expect, text)

    def test_defaults_follow_the_cpp(self):
        self.assertEqual(parse_problem("sq=5").to_string(),
                         "b=1,hq=1,hkv=1,sq=5,skv=5,d=64,dv=64,dtype=f32,mask=none,scale=default,seed=1")
        p = parse_problem("sq=8,dist=outliers:4:20")
        self.assertEqual(p.to_string().split(",")[-1], "dist=outliers:4:20")
        self.assertEqual(parse_problem(p.to_string()), p)
        self.assertEqual(parse_problem("sq=8,dist=normal:1").dist, "normal")  # N(0,1) is never printed
        self.assertIn("dist=lognormal: must be normal", python_answer("dist=lognormal")[1])
        # A larger |input| lowers the largest scale: 4*scale*d*max|x|^2 must stay below FLT_MAX.
        self.assertIsNotNone(try_parse("d=64,scale=1e34"))
        self.assertIsNone(try_parse("d=64,scale=1e34,dist=shift:100"))

    def test_every_suite_parses_and_keeps_its_spelling(self):
        for name in sorted(os.listdir(os.path.join(REPO, "harness", "suites"))):
            if name.endswith(".txt"):
                with self.subTest(suite=name):
                    for p in load_suite(name[:-4]):
                        self.assertEqual(parse_problem(p.to_string()), p)


@unittest.skipUnless(sdpa_bench(), "no sdpa-bench binary (set SDPA_BENCH_EXE or build build/release)")
class CppParityTest(unittest.TestCase):
    def compare(self, spec):
        kind, text = python_answer(spec)
        cpp_kind, cpp_text = cpp_answer(sdpa_bench(), spec, text if kind == "ok" else None)
        if kind == "refused":
            self.assertEqual(cpp_kind, "refused", f"C++ accepted what Python refused ({text}): {cpp_text}")
            self.assertEqual(cpp_text, text)
        else:
            self.assertEqual(cpp_kind, "same", f"Python: {text}; C++: {cpp_kind} {cpp_text}")

    def test_corpus_lines_get_the_same_answer(self):
        for spec, _ in corpus():
            if b"\0" in spec:
                continue  # a command line cannot carry a NUL byte
            with self.subTest(spec=spec):
                self.compare(spec)

    def test_generated_lines_get_the_same_answer(self):
        for spec in generated_lines(int(os.environ.get("SDPA_PARITY_LINES", "80"))):
            with self.subTest(spec=spec):
                self.compare(spec)


if __name__ == "__main__":
    unittest.main()

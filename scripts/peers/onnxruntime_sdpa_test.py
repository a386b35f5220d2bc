#!/usr/bin/env python3
"""Tests of onnxruntime_sdpa.py. Without ONNX Runtime: the command line (dry run, bad input, the
missing peer's exit 2 naming its set-up script). With it (scripts/peers/setup-onnxruntime): small
cases end to end on both nodes, every mask each node can do, its skips (GQA on
MultiHeadAttention, bf16 without a CPU kernel) with their reasons.

    python3 -m unittest discover -s scripts/peers -p 'onnxruntime_sdpa_test.py'
"""

import io
import json
import os
import sys
import tempfile
import unittest
from contextlib import redirect_stderr, redirect_stdout
from unittest import mock

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import onnxruntime_sdpa as ors  # noqa: E402  (first: puts .deps/onnxruntime on sys.path when it is there)
import peer_run  # noqa: E402

try:
    import numpy  # noqa: F401
    import onnx  # noqa: F401
    import onnxruntime  # noqa: F401
    have_ort = True
except ImportError:
    have_ort = False


def run_main(argv):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = ors.main(argv)
    return code, out.getvalue(), err.getvalue()


class CommandLineTest(unittest.TestCase):
    def test_dry_run_needs_no_peer(self):
        code, out, _ = run_main(["--problem", "b=2,h=2,sq=8,d=16,mask=kvlen:8/3", "--dry-run"])
        self.assertEqual(code, 0)
        self.assertIn("mask=kvlen:8/3", out)
        self.assertIn(f"{2 * 8 * (8 + 3) * 2 * 32:.6e} flops", out)

    def test_bad_input_is_exit_2_naming_it(self):
        for argv, says in ((["--problem", "dtype=f64"], "dtype=f64: must be one of"),
                           (["--problem", "sq=4", "--warmup", "-1"], "--warmup must be >= 0")):
            with self.subTest(argv=argv):
                code, _, err = run_main(argv)
                self.assertEqual(code, 2)
                self.assertIn(says, err)

    def test_missing_peer_is_exit_2_naming_the_setup_script(self):
        with mock.patch.object(ors, "import_peer", side_effect=peer_run.MissingDependency("needs " + ors.SETUP)):
            code, _, err = run_main(["--problem", "sq=4", "--out", os.devnull])
        self.assertEqual(code, 2)
        self.assertIn("scripts/peers/setup-onnxruntime", err)


@unittest.skipUnless(have_ort, "ONNX Runtime not installed (scripts/peers/setup-onnxruntime)")
class EndToEndTest(unittest.TestCase):
    def run_cases(self, argv):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "ort.json")
            code, _, err = run_main(argv + ["--threads", "1", "--samples", "2", "--warmup", "0", "--out", path])
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
        return code, err, doc

    def test_masks_pass_in_f32_or_skip_with_the_reason(self):
        argv = []
        for mask in ("none", "causal", "causal_br", "kvlen:16/5"):
            argv += ["--problem", f"b=2,h=2,sq=16,d=32,mask={mask}"]
        argv += ["--problem", "sq=8,skv=16,d=32,mask=causal_br"]
        code, err, doc = self.run_cases(argv)
        self.assertEqual(code, 0, err)
        medians = {(e["backend"], e["problem"]): e for e in doc["benchmarks"] if e.get("aggregate_name") == "median"}
        skips = {(e["backend"], e["problem"]): e["error_message"] for e in doc["benchmarks"]
                 if e["run_type"] == "iteration"}
        self.assertEqual(len(medians), 9, skips)
        for e in medians.values():
            self.assertEqual(e["status"], "pass", e["problem"])
        (key, why), = skips.items()
        self.assertEqual(key[0], "onnxruntime_mha")
        self.assertIn("skip: mask=causal_br with sq=8, skv=16", why)

    def test_gqa_native_on_attention_skip_on_mha(self):
        code, err, doc = self.run_cases(["--problem", "hq=4,hkv=2,sq=8,d=16"])
        self.assertEqual(code, 0, err)
        by = {e["backend"]: e for e in doc["benchmarks"] if e.get("aggregate_name") in (None, "median")}
        self.assertIn("skip: GQA", by["onnxruntime_mha"]["error_message"])
        self.assertEqual(by["onnxruntime_attention"]["status"], "pass")
        self.assertIn("own K/V head groups", by["onnxruntime_attention"]["note_gqa"])


if __name__ == "__main__":
    unittest.main()

#!/usr/bin/env python3
"""Tests of openvino_sdpa.py and the shared run loop (peer_run.py). Without OpenVINO: the command
line (dry run, bad input, the missing peer's exit 2 naming its set-up script), bf16 rounding and
the boolean masks (NumPy). With OpenVINO (scripts/peers/setup-openvino): small cases end to end,
every mask, the precision hint (forced bf16 on an f16 problem fails the accuracy rule) and GQA.

    python3 -m unittest discover -s scripts/peers -p 'openvino_sdpa_test.py'
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
import openvino_sdpa as ovs  # noqa: E402  (first: puts .deps/openvino on sys.path when it is there)
import peer_run  # noqa: E402
from report_lib.problem import parse_problem  # noqa: E402

try:
    import numpy as np
except ImportError:
    np = None
try:
    import openvino  # noqa: F401
except ImportError:
    openvino = None


def run_main(argv):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = ovs.main(argv)
    return code, out.getvalue(), err.getvalue()


class CommandLineTest(unittest.TestCase):
    def test_dry_run_needs_no_peer(self):
        code, out, _ = run_main(["--problem", "h=2,sq=8,d=16,mask=causal", "--dry-run"])
        self.assertEqual(code, 0)
        self.assertIn("b=1,hq=2,hkv=2,sq=8,skv=8,d=16,dv=16,dtype=f32,mask=causal", out)

    def test_bad_input_is_exit_2_naming_it(self):
        for argv, says in ((["--problem", "sq=0"], "sq=0: must be >= 1"), (["--problem", "sq=4", "--threads", "0"],
                           "--threads must be >= 1"), ([], "nothing to run"), (["--suite", "no_such"], "no_such"),
                           (["--problem", "sq=4", "--samples", "0"], "--samples must be >= 1")):
            with self.subTest(argv=argv):
                code, _, err = run_main(argv)
                self.assertEqual(code, 2)
                self.assertIn(says, err)

    def test_missing_peer_is_exit_2_naming_the_setup_script(self):
        with mock.patch.object(ovs, "import_peer", side_effect=peer_run.MissingDependency("needs " + ovs.SETUP)):
            code, _, err = run_main(["--problem", "sq=4", "--out", os.devnull])
        self.assertEqual(code, 2)
        self.assertIn("scripts/peers/setup-openvino", err)


@unittest.skipIf(np is None, "NumPy not found")
class NumpyPartsTest(unittest.TestCase):
    def test_bf16_rounds_to_nearest_even(self):
        x = np.array([1.0, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -9, -2.5, 65504.0], dtype=np.float32)
        value, bits = peer_run.round_bf16(x)
        self.assertEqual(value.tolist(), [1.0, 1.0, 1 + 2 ** -6, 1.0, -2.5, 65536.0])
        self.assertEqual(bits[0], 0x3F80)

    def test_masks_match_visible_keys(self):
        for spec in ("b=2,sq=5,skv=7,mask=causal_br", "b=3,sq=4,skv=6,mask=kvlen:6/1/3"):
            p = parse_problem(spec)
            m = ovs._mask(p)
            for bi in range(p.b):
                for i in range(p.sq):
                    self.assertEqual(int(m[bi, 0, i].sum()), p.visible_keys(bi, i), (spec, bi, i))
                    self.assertTrue(m[bi, 0, i, :p.visible_keys(bi, i)].all())

    def test_fully_masked_rows_are_found(self):
        self.assertTrue(ovs._fully_masked_rows(parse_problem("b=2,sq=4,mask=kvlen:4/0")))
        self.assertTrue(ovs._fully_masked_rows(parse_problem("sq=8,skv=4,mask=causal_br")))
        self.assertFalse(ovs._fully_masked_rows(parse_problem("sq=4,skv=8,mask=causal_br")))


@unittest.skipIf(openvino is None or np is None, "OpenVINO not installed (scripts/peers/setup-openvino)")
class EndToEndTest(unittest.TestCase):
    def run_cases(self, argv):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "ov.json")
            code, _, err = run_main(argv + ["--threads", "1", "--samples", "2", "--warmup", "0", "--out", path])
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
        return code, err, doc

    def test_every_mask_passes_in_f32_on_both_paths(self):
        argv = []
        for mask in ("none", "causal", "causal_br", "kvlen:24/7"):
            argv += ["--problem", f"b=2,h=2,sq=16,skv=24,d=32,mask={mask}"]
        code, err, doc = self.run_cases(argv)
        self.assertEqual(code, 0, err)
        medians = [e for e in doc["benchmarks"] if e.get("aggregate_name") == "median"]
        self.assertEqual(len(medians), 8)
        self.assertEqual({e["backend"] for e in medians}, {"openvino_static", "openvino_dynamic"})
        for e in medians:
            self.assertEqual(e["status"], "pass", e["problem"])
            self.assertIn("f32", e["note_precision_hint"])
        self.assertEqual(doc["context"]["peer"], "openvino")

    def test_forced_bf16_hint_fails_an_f16_problem(self):
        code, err, doc = self.run_cases(["--problem", "h=2,sq=256,d=64,dtype=f16", "--precision-hint", "bf16",
                                         "--variant", "openvino_static"])
        self.assertEqual(code, 1, err)
        med = [e for e in doc["benchmarks"] if e.get("aggregate_name") == "median"][0]
        self.assertEqual(med["status"], "fail")
        self.assertGreater(med["worst_of_bound"], 1)
        self.assertIn("bf16", med["note_precision_hint"])

    def test_gqa_is_a_skip_unless_repeated(self):
        code, err, doc = self.run_cases(["--problem", "hq=4,hkv=2,sq=8,d=16", "--variant", "openvino_static"])
        self.assertEqual(code, 0, err)
        self.assertIn("skip: GQA", doc["benchmarks"][0]["error_message"])
        code, err, doc = self.run_cases(["--problem", "hq=4,hkv=2,sq=8,d=16", "--variant", "openvino_static",
                                         "--gqa", "repeat"])
        self.assertEqual(code, 0, err)
        self.assertIn("repeat", [e for e in doc["benchmarks"] if e.get("aggregate_name") == "median"][0]["note_gqa"])


if __name__ == "__main__":
    unittest.main()

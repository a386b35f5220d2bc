#!/usr/bin/env python3
"""Tests of torch_sdpa.py that need no torch and no GPU: spec parsing (same rules and names as
sdpa-bench), FLOP counting, statistics and the results-file entries.

    python3 -m unittest discover -s scripts/peers -p '*_test.py'
"""

import io
import os
import sys
import unittest
from contextlib import redirect_stderr, redirect_stdout

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_sdpa as t  # noqa: E402


class ParseTest(unittest.TestCase):
    def test_canonical_line_has_every_key_in_sdpa_bench_order(self):
        p = t.parse_problem("h=8,sq=1024,d=128,dtype=bf16,mask=causal")
        self.assertEqual(p.to_string(), "b=1,hq=8,hkv=8,sq=1024,skv=1024,d=128,dv=128,dtype=bf16,"
                                        "mask=causal,scale=default,seed=1")
        self.assertEqual(t.parse_problem(p.to_string()), p)

    def test_scale_and_kvlen_print_as_the_cpp_does(self):
        p = t.parse_problem("b=2,sq=4,skv=8,d=64,scale=0.1,mask=kvlen:8/0,seed=7")
        self.assertEqual(p.to_string(), "b=2,hq=1,hkv=1,sq=4,skv=8,d=64,dv=64,dtype=f32,"
                                        "mask=kvlen:8/0,scale=0.10000000000000001,seed=7")
        self.assertEqual(t.parse_problem("scale=1").to_string().split(",")[9], "scale=1")

    def test_errors_name_the_key_and_the_rule(self):
        cases = {
            "hq=6,hkv=4": "hkv=4: hq=6 must be a multiple of hkv",
            "b=2,sq=8,mask=kvlen:3": "kvlen needs one length per batch item",
            "sq=4,mask=kvlen:5": "kvlen 5 exceeds skv=4",
            "dtype=f64": "dtype=f64: must be one of f32, f16, bf16",
            "d=0": "d=0: must be >= 1",
            "sq=x": "sq=x: must be an integer",
            "scale=-1": "scale=-1: must be 'default'",
            "b=1,b=2": "b=2: is given twice",
            "h=2,hq=2": "give h or hq, not both",
            "heads=2": "heads=2: unknown key",
            "mask=diag": "mask=diag: must be none, causal, causal_br",
            "": "is empty",
            "sq": "sq: expected key=value",
        }
        for spec, message in cases.items():
            with self.subTest(spec=spec):
                with self.assertRaises(t.SpecError) as caught:
                    t.parse_problem(spec)
                self.assertIn(message, str(caught.exception))

    def test_suites_parse_and_a_bad_line_names_file_and_line(self):
        self.assertGreater(len(t.load_suite("smoke")), 0)
        path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"torch_sdpa_test_{os.getpid()}.txt")
        with open(path, "w", encoding="utf-8") as f:
            f.write("# comment\nb=1,sq=8\n\nb=1,sq=8,dtype=f8\n")
        try:
            with self.assertRaises(t.SpecError) as caught:
                t.load_suite(path)
            self.assertIn(":4: problem spec: dtype=f8", str(caught.exception))
        finally:
            os.remove(path)


class FlopsTest(unittest.TestCase):
    def test_unmasked_is_4_b_hq_sq_skv_d(self):
        p = t.parse_problem("b=2,hq=8,hkv=2,sq=1024,skv=512,d=64")
        self.assertEqual(p.flops(), 4.0 * 2 * 8 * 1024 * 512 * 64)

    def test_dv_counts_for_the_second_product(self):
        p = t.parse_problem("sq=10,d=64,dv=32")
        self.assertEqual(p.flops(), 100 * 2.0 * (64 + 32))

    def test_masked_pairs_are_not_counted(self):
        n = 1000
        self.assertEqual(t.parse_problem(f"sq={n},mask=causal").visible_pairs(), n * (n + 1) // 2)
        # Top-left with more queries than keys: rows past skv see every key.
        self.assertEqual(t.parse_problem("sq=5,skv=3,mask=causal").visible_pairs(), 1 + 2 + 3 + 3 + 3)
        # Bottom-right with more queries than keys: the first sq - skv rows see nothing.
        self.assertEqual(t.parse_problem("sq=5,skv=3,mask=causal_br").visible_pairs(), 0 + 0 + 1 + 2 + 3)
        self.assertEqual(t.parse_problem("sq=2,skv=5,mask=causal_br").visible_pairs(), 4 + 5)
        self.assertEqual(t.parse_problem("b=3,h=2,sq=4,skv=9,mask=kvlen:9/0/5").visible_pairs(),
                         2 * 4 * (9 + 0 + 5))


class StatsTest(unittest.TestCase):
    def test_percentile_interpolates_like_numpy(self):
        s = [4.0, 1.0, 3.0, 2.0]
        self.assertEqual(t.percentile(s, 50), 2.5)
        self.assertAlmostEqual(t.percentile(s, 90), 3.7)
        self.assertEqual(t.percentile(s, 0), 1.0)
        self.assertEqual(t.percentile(s, 100), 4.0)

    def test_summary_uses_the_sample_stddev(self):
        s = t.summarize([1.0, 2.0, 3.0, 4.0])
        self.assertAlmostEqual(s["stddev"], (5.0 / 3.0) ** 0.5)
        self.assertEqual(s["mean"], 2.5)
        self.assertEqual(s["median"], 2.5)


class EntriesTest(unittest.TestCase):
    def test_one_iteration_per_sample_then_the_aggregates(self):
        p = t.parse_problem("b=1,h=2,sq=128,d=64,dtype=f16")
        entries = t.case_entries("flash", p, [1.0, 2.0, 3.0], [1.5, 2.5, 3.5])
        iterations = [e for e in entries if e["run_type"] == "iteration"]
        aggregates = {e["aggregate_name"]: e for e in entries if e["run_type"] == "aggregate"}
        self.assertEqual([e["repetition_index"] for e in iterations], [0, 1, 2])
        self.assertEqual(set(aggregates), set(t.AGGREGATES))
        name = "torch_flash/" + p.to_string()
        self.assertTrue(all(e["run_name"] == name for e in entries))
        self.assertEqual(aggregates["median"]["name"], name + "_median")
        self.assertEqual(aggregates["median"]["real_time"], 2.0)
        self.assertEqual(aggregates["median"]["cpu_time"], 2.5)
        self.assertEqual(iterations[0]["tflops"], p.flops() / 1e-3 / 1e12)
        self.assertNotIn("tflops", aggregates["stddev"])
        for e in iterations:
            self.assertEqual((e["iterations"], e["repetitions"], e["time_unit"]), (1, 3, "ms"))

    def test_a_skip_is_one_entry_with_the_reason(self):
        [e] = t.skip_entries("cudnn", t.parse_problem("sq=8"), "No available kernel")
        self.assertTrue(e["error_occurred"])
        self.assertEqual(e["error_message"], "skip: No available kernel")


class MainTest(unittest.TestCase):
    def run_main(self, *argv):
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            rc = t.main(list(argv))
        return rc, out.getvalue(), err.getvalue()

    def test_dry_run_prints_flops_without_torch(self):
        rc, out, _ = self.run_main("--problem", "b=1,h=2,sq=64,d=64,dtype=f16", "--dry-run")
        self.assertEqual(rc, 0)
        self.assertIn("2.097152e+06 flops", out)

    def test_a_bad_spec_exits_2_with_the_message(self):
        rc, _, err = self.run_main("--problem", "sq=0", "--dry-run")
        self.assertEqual(rc, 2)
        self.assertIn("sq=0: must be >= 1", err)

    def test_without_torch_or_gpu_it_exits_2_and_says_why(self):
        try:
            import torch
            if torch.cuda.is_available():
                self.skipTest("torch with a CUDA device is installed: the script would run")
        except ImportError:
            pass
        rc, _, err = self.run_main("--problem", "sq=8,dtype=f16", "--out", os.devnull)
        self.assertEqual(rc, 2)
        self.assertRegex(err, "not installed|no CUDA device")


if __name__ == "__main__":
    unittest.main()

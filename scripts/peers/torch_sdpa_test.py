#!/usr/bin/env python3
"""Tests of torch_sdpa.py. Without torch: spec parsing (same rules and canonical line as
core/problem.cpp), FLOP counting, the stopping policy, the accuracy rule and the fp64 reference
(NumPy; skipped where no NumPy is found), the results document (format version 2) and its atomic
write, and the exit codes. With torch (scripts/peers/setup-torch), one short CPU run end to end.

    python3 -m unittest discover -s scripts/peers -p '*_test.py'
"""

import io
import json
import math
import os
import sys
import tempfile
import unittest
from contextlib import redirect_stderr, redirect_stdout
from unittest import mock

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_sdpa as t  # noqa: E402  (first: puts .deps/torch on sys.path when it is there)
import peer_accuracy as pa  # noqa: E402
import peer_measure as pm  # noqa: E402
import report_lib.problem as pp  # noqa: E402  (scripts/ is on sys.path through peer_measure)
import peer_results as pr  # noqa: E402

try:
    import numpy as np
except ImportError:
    np = None

try:
    import torch
except ImportError:
    torch = None


class ParseTest(unittest.TestCase):
    def test_canonical_line_has_every_key_in_sdpa_bench_order(self):
        p = pp.parse_problem("h=8,sq=1024,d=128,dtype=bf16,mask=causal")
        self.assertEqual(p.to_string(), "b=1,hq=8,hkv=8,sq=1024,skv=1024,d=128,dv=128,dtype=bf16,"
                                        "mask=causal,scale=default,seed=1")
        self.assertEqual(pp.parse_problem(p.to_string()), p)

    def test_defaults_are_spelled_out(self):
        self.assertEqual(pp.parse_problem("sq=5").to_string(),
                         "b=1,hq=1,hkv=1,sq=5,skv=5,d=64,dv=64,dtype=f32,mask=none,scale=default,seed=1")
        self.assertEqual(pp.parse_problem(" hq=8 , hkv=2, sq=1, skv=300, d=128 ").to_string(),
                         "b=1,hq=8,hkv=2,sq=1,skv=300,d=128,dv=128,dtype=f32,mask=none,scale=default,seed=1")

    def test_scale_and_kvlen_print_as_the_cpp_does(self):
        p = pp.parse_problem("b=2,sq=4,skv=8,d=64,scale=0.1,mask=kvlen:8/0,seed=7")
        self.assertEqual(p.to_string(), "b=2,hq=1,hkv=1,sq=4,skv=8,d=64,dv=64,dtype=f32,"
                                        "mask=kvlen:8/0,scale=0.10000000000000001,seed=7")
        self.assertEqual(pp.parse_problem("scale=1").to_string().split(",")[9], "scale=1")
        self.assertEqual(pp.parse_problem("scale=0.125").to_string().split(",")[9], "scale=0.125")
        self.assertEqual(pp.parse_problem("scale=1e-3").to_string().split(",")[9], "scale=0.001")

    def test_errors_name_the_key_and_the_rule(self):
        cases = {
            "hq=6,hkv=4": "hkv=4: hq=6 must be a multiple of hkv",
            "b=2,sq=8,mask=kvlen:3": "kvlen needs one length per batch item",
            "sq=4,mask=kvlen:5": "kvlen 5 exceeds skv=4",
            "dtype=f64": "dtype=f64: must be one of f32, f16, bf16",
            "d=0": "d=0: must be >= 1",
            "sq=x": "sq=x: must be an integer",
            "sq=+4": "sq=+4: must be an integer",
            "sq=16777217": "must be <= 16777216",
            "scale=-1": "scale=-1: must be 'default'",
            "scale=inf": "scale=inf: must be 'default'",
            "b=1,b=2": "b=2: is given twice",
            "h=2,hq=2": "give h or hq, not both",
            "heads=2": "heads=2: unknown key",
            "mask=diag": "mask=diag: must be none, causal, causal_br",
            "": "is empty",
            "sq": "sq: expected key=value",
            "sq=": "sq: has no value",
        }
        for spec, message in cases.items():
            with self.subTest(spec=spec):
                with self.assertRaises(pp.SpecError) as caught:
                    pp.parse_problem(spec)
                self.assertIn(message, str(caught.exception))

    def test_suites_parse_and_a_bad_line_names_file_and_line(self):
        self.assertGreater(len(pp.load_suite("smoke")), 0)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "bad.txt")
            with open(path, "w", encoding="utf-8") as f:
                f.write("# comment\nb=1,sq=8\n\nb=1,sq=8,dtype=f8\n")
            with self.assertRaises(pp.SpecError) as caught:
                pp.load_suite(path)
            self.assertIn(":4: problem spec: dtype=f8", str(caught.exception))

    def test_every_suite_parses(self):
        for name in sorted(os.listdir(pp.SUITES)):
            if name.endswith(".txt"):
                with self.subTest(suite=name):
                    self.assertGreater(len(pp.load_suite(name[:-4])), 0)


class FlopsTest(unittest.TestCase):
    def test_unmasked_is_4_b_hq_sq_skv_d(self):
        p = pp.parse_problem("b=2,hq=8,hkv=2,sq=1024,skv=512,d=64")
        self.assertEqual(p.flops(), 4.0 * 2 * 8 * 1024 * 512 * 64)

    def test_dv_counts_for_the_second_product(self):
        p = pp.parse_problem("sq=10,d=64,dv=32")
        self.assertEqual(p.flops(), 100 * 2.0 * (64 + 32))

    def test_masked_pairs_are_not_counted(self):
        n = 1000
        self.assertEqual(pp.parse_problem(f"sq={n},mask=causal").visible_pairs(), n * (n + 1) // 2)
        # Top-left with more queries than keys: rows past skv see every key.
        self.assertEqual(pp.parse_problem("sq=5,skv=3,mask=causal").visible_pairs(), 1 + 2 + 3 + 3 + 3)
        # Bottom-right with more queries than keys: the first sq - skv rows see nothing.
        self.assertEqual(pp.parse_problem("sq=5,skv=3,mask=causal_br").visible_pairs(), 0 + 0 + 1 + 2 + 3)
        self.assertEqual(pp.parse_problem("sq=2,skv=5,mask=causal_br").visible_pairs(), 4 + 5)
        self.assertEqual(pp.parse_problem("b=3,h=2,sq=4,skv=9,mask=kvlen:9/0/5").visible_pairs(),
                         2 * 4 * (9 + 0 + 5))
        p = pp.parse_problem("b=1,h=2,sq=4,d=8,dv=4,mask=causal")
        self.assertEqual(p.flops(), 2 * (1 + 2 + 3 + 4) * 2.0 * (8 + 4))


class StatsTest(unittest.TestCase):
    def test_percentile_interpolates_like_numpy(self):
        s = [4.0, 1.0, 3.0, 2.0]
        self.assertEqual(pm.percentile(s, 50), 2.5)
        self.assertAlmostEqual(pm.percentile(s, 90), 3.7)
        self.assertEqual(pm.percentile(s, 0), 1.0)
        self.assertEqual(pm.percentile(s, 100), 4.0)

    def test_summary_uses_the_sample_stddev(self):
        s = pm.summarize([1.0, 2.0, 3.0, 4.0])
        self.assertAlmostEqual(s["stddev"], (5.0 / 3.0) ** 0.5)
        self.assertEqual(s["mean"], 2.5)
        self.assertEqual(s["median"], 2.5)


class FakeClock:
    """A clock that each sample advances by its own duration."""

    def __init__(self, durations_ms):
        self.now = 0.0
        self.durations = durations_ms
        self.calls = 0

    def __call__(self):
        return self.now

    def sample(self):
        ms = self.durations(self.calls)
        self.calls += 1
        self.now += ms / 1e3
        return ms, None


class PolicyTest(unittest.TestCase):
    def run_policy(self, policy, durations):
        clock = FakeClock(durations)
        wall, device, why = pm.measure(clock.sample, policy, now=clock)
        return clock, wall, device, why

    def test_quick_takes_8_samples_of_a_steady_case(self):
        clock, wall, device, why = self.run_policy(pm.stopping_policy("quick"), lambda i: 1.0)
        self.assertEqual(len(wall), 8)
        self.assertEqual(clock.calls, 9)  # one warm-up
        self.assertEqual(device, [])
        self.assertTrue(why.startswith("rel_stderr"), why)

    def test_default_needs_64_samples_and_a_quarter_second(self):
        _, wall, _, why = self.run_policy(pm.stopping_policy("default"), lambda i: 1000 / 1024)
        self.assertEqual(len(wall), 256)  # 1/1024 s each: min_time 0.25 s decides
        self.assertTrue(why.startswith("rel_stderr"), why)
        _, wall, _, _ = self.run_policy(pm.stopping_policy("default"), lambda i: 100.0)
        self.assertEqual(len(wall), 64)

    def test_a_noisy_case_stops_at_max_time(self):
        _, wall, _, why = self.run_policy(pm.stopping_policy("default"), lambda i: 1.0 if i % 2 else 400.0)
        self.assertEqual(why, "max_time 10 s")
        self.assertGreaterEqual(len(wall), 64)

    def test_a_slow_case_stops_at_the_case_budget(self):
        _, wall, _, why = self.run_policy(pm.stopping_policy("default"), lambda i: 2000.0)
        self.assertEqual(len(wall), 30)
        self.assertEqual(why, "case budget 60 s, 30 of 64 samples")

    def test_device_samples_decide_when_there_are_some(self):
        samples = iter(range(10 ** 6))
        wall, device, _ = pm.measure(lambda: (float(next(samples) % 7 + 1), 1.0), pm.stopping_policy("quick"),
                                       now=lambda: 0.0)
        self.assertEqual(len(wall), 8)  # wall is noisy, the device clock steady: 8 samples do
        self.assertEqual(len(device), 8)

    def test_unknown_policy_is_an_error(self):
        with self.assertRaises(pp.SpecError):
            pm.stopping_policy("fast")


def naive_sdpa(p, q, k, v, scale=None, causal_shift=0, dtype=np.float32 if np else None):
    """A straightforward kernel in `dtype`, with knobs to break it."""
    scale = p.scale() if scale is None else scale
    out = np.zeros((p.b, p.hq, p.sq, p.dv), dtype=dtype)
    for bi in range(p.b):
        for h in range(p.hq):
            kh, vh = k[bi, h // p.group()].astype(dtype), v[bi, h // p.group()].astype(dtype)
            for i in range(p.sq):
                n = min(p.skv, max(0, p.visible_keys(bi, i) + causal_shift))
                if n == 0:
                    continue
                s = (kh[:n] @ q[bi, h, i].astype(dtype)) * dtype(scale)
                w = np.exp(s - s.max())
                out[bi, h, i] = (w / w.sum()) @ vh[:n]
    return out


@unittest.skipIf(np is None, "NumPy not found (scripts/peers/setup-torch installs it)")
class AccuracyTest(unittest.TestCase):
    def setUp(self):
        self.p = pp.parse_problem("b=2,hq=4,hkv=2,sq=9,skv=11,d=16,dv=8,mask=causal_br")
        self.q, self.k, self.v = (x.astype(np.float64) for x in pa.make_inputs(self.p))
        self.rows, self.ref, self.abs_pv = pa.reference(self.p, self.q, self.k, self.v)

    def check(self, out, dtype="f32"):
        return pa.check_accuracy(dtype, out.reshape(-1, self.p.dv)[self.rows], self.ref, self.abs_pv)

    def test_inputs_are_deterministic_normal(self):
        a, b = pa.make_inputs(self.p), pa.make_inputs(self.p)
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)
        q = pa.make_inputs(pp.parse_problem("sq=4096,d=64"))[0]
        self.assertAlmostEqual(float(q.mean()), 0.0, delta=0.01)
        self.assertAlmostEqual(float(q.std()), 1.0, delta=0.01)

    def test_reference_matches_softmax_in_fp64_and_zero_for_masked_rows(self):
        want = naive_sdpa(self.p, self.q, self.k, self.v, dtype=np.float64).reshape(-1, self.p.dv)
        np.testing.assert_allclose(self.ref, want, rtol=1e-12, atol=1e-14)
        self.assertEqual(self.ref.shape, (2 * 4 * 9, 8))
        # causal_br with sq=9 < skv=11: every row sees keys; kvlen 0 gives empty rows.
        p = pp.parse_problem("b=2,sq=3,d=4,mask=kvlen:3/0")
        rows, ref, abs_pv = pa.reference(p, *(x.astype(np.float64) for x in pa.make_inputs(p)))
        self.assertTrue(np.all(ref[3:] == 0) and np.all(abs_pv[3:] == 0))
        self.assertTrue(np.all(abs_pv[:3] > 0))

    def test_row_sampling_takes_every_stride_th_row(self):
        rows, ref, _ = pa.reference(self.p, self.q, self.k, self.v, stride=5)
        self.assertEqual(list(rows), list(range(0, 72, 5)))
        np.testing.assert_allclose(ref, self.ref[rows], rtol=1e-14, atol=1e-15)  # BLAS blocking differs
        rows, _, _ = pa.reference(self.p, self.q, self.k, self.v, chunk_elems=3 * 11)  # row chunks
        self.assertEqual(list(rows), list(range(72)))

    def test_row_stride_is_odd_above_the_budget(self):
        p = pp.parse_problem("b=1,h=8,sq=4096,d=128")
        self.assertEqual(pa.reference_row_stride(p, 2e10), 5)
        self.assertEqual(pa.reference_row_stride(pp.parse_problem("sq=64"), 2e10), 1)

    def test_a_correct_fp32_kernel_passes(self):
        acc = self.check(naive_sdpa(self.p, self.q, self.k, self.v))
        self.assertTrue(acc["pass"], acc)
        self.assertLess(acc["worst_of_bound"], 0.1)
        self.assertEqual((acc["tol_abs"], acc["tol_rel"]), (2.0 ** -14, 16 * 2.0 ** -24))

    def test_output_rounded_to_f16_passes_f16_and_fails_f32(self):
        out = naive_sdpa(self.p, self.q, self.k, self.v).astype(np.float16)
        self.assertTrue(self.check(out, "f16")["pass"])
        self.assertFalse(self.check(out, "f32")["pass"])

    def test_broken_kernels_fail(self):
        broken = {
            "no scale": naive_sdpa(self.p, self.q, self.k, self.v, scale=1.0),
            "mask off by one": naive_sdpa(self.p, self.q, self.k, self.v, causal_shift=1),
        }
        wrong_row = naive_sdpa(self.p, self.q, self.k, self.v)
        wrong_row[1, 3, 4] += 0.05
        broken["one wrong row"] = wrong_row
        for name, out in broken.items():
            for dtype in ("f32", "f16", "bf16"):
                with self.subTest(kernel=name, dtype=dtype):
                    acc = self.check(out, dtype)
                    self.assertFalse(acc["pass"])
                    self.assertGreater(acc["failed_elems"], 0)
                    self.assertGreater(acc["worst_of_bound"], 1)

    def test_nan_fails_outright_and_a_masked_row_must_be_zero(self):
        out = naive_sdpa(self.p, self.q, self.k, self.v)
        out[0, 0, 0, 0] = np.nan
        acc = self.check(out, "bf16")
        self.assertFalse(acc["pass"])
        self.assertEqual(acc["non_finite"], 1)
        self.assertIsNone(pr.num(acc["worst_of_bound"]))
        acc = pa.check_accuracy("bf16", np.array([[0.0, 1e-30]]), np.zeros((1, 2)), np.zeros((1, 2)))
        self.assertFalse(acc["pass"])
        self.assertEqual(acc["failed_elems"], 1)

    def test_the_bound_is_per_element(self):
        tol_abs, tol_rel = pa.TOLERANCE["bf16"]
        ref, abs_pv = np.array([1.0, 0.0]), np.array([2.0, 2.0])
        at_bound = ref + np.array([tol_abs * 2 + tol_rel * 1, tol_abs * 2])
        self.assertTrue(pa.check_accuracy("bf16", at_bound, ref, abs_pv)["pass"])
        self.assertFalse(pa.check_accuracy("bf16", at_bound * (1 + 1e-9) + 1e-12, ref, abs_pv)["pass"])
        acc = pa.check_accuracy("bf16", np.array([1.5, 1e-3]), np.array([1.0, 0.0]), np.array([2.0, 2.0]))
        self.assertEqual(acc["max_abs_err"], 0.5)
        self.assertEqual(acc["max_rel_err"], 0.5)  # the r = 0 element has no relative error
        self.assertAlmostEqual(acc["nmse"], (0.25 + 1e-6) / 1.0)


class KernelNoteTest(unittest.TestCase):
    def test_the_sdpa_op_names_the_kernel(self):
        note = t.kernel_from_profile(["aten::scaled_dot_product_attention",
                                      "aten::_scaled_dot_product_flash_attention_for_cpu", "aten::empty"])
        self.assertEqual(note, "flash_attention_cpu (aten::_scaled_dot_product_flash_attention_for_cpu)")
        self.assertTrue(t.kernel_from_profile(["aten::_scaled_dot_product_attention_math", "aten::bmm"])
                        .startswith("math "))
        self.assertTrue(t.kernel_from_profile(["aten::matmul"]).startswith("unknown"))

    def test_device_kernels_by_time(self):
        note = t.kernel_from_profile(["aten::_scaled_dot_product_cudnn_attention"],
                                     [("memset", 1.0), ("cudnn_generated_sdpa_fprop", 90.0), ("copy", 2.0)])
        self.assertEqual(note, "cudnn (aten::_scaled_dot_product_cudnn_attention); device kernels: "
                               "cudnn_generated_sdpa_fprop, copy")

    def test_reasons_keep_the_first_line_without_pytorchs_source_location(self):
        self.assertEqual(t._first_line("Flash attention requires q,k,v to have the same last dimension. (Triggered "
                                       "internally at /pytorch/aten/src/sdp_utils_cpp.cpp:23.)\nmore"),
                         "Flash attention requires q,k,v to have the same last dimension.")
        self.assertEqual(t._first_line(""), "")

    def test_memory_peak_is_the_highest_running_sum(self):
        self.assertEqual(t.memory_peak([(3, -100), (1, 100), (2, 50), (4, 10)]), 150)
        self.assertEqual(t.memory_peak([]), 0)

    def test_math_is_left_out_of_large_problems(self):
        big = pp.parse_problem("b=8,hq=32,sq=2048,d=64,dtype=f16")
        self.assertIn("math backend materialises", t.skip_reason(big, "math", t.MATH_MAX_SCORES))
        self.assertIsNone(t.skip_reason(big, "flash", t.MATH_MAX_SCORES))
        self.assertIsNone(t.skip_reason(pp.parse_problem("b=1,h=8,sq=1024"), "cpu_math", t.MATH_MAX_SCORES))


def fake_accuracy(ok=True):
    return {"tol_abs": 2.0 ** -8, "tol_rel": 2.0 ** -8, "checked_elems": 10, "failed_elems": 0 if ok else 3,
            "non_finite": 0, "max_abs_err": 1e-3, "max_rel_err": 2e-3, "nmse": 1e-6,
            "worst_of_bound": 0.5 if ok else math.inf, "pass": ok}


class DocumentTest(unittest.TestCase):
    def setUp(self):
        self.p = pp.parse_problem("b=1,h=2,sq=128,d=64,dtype=bf16")
        self.name = "torch_cpu/" + self.p.to_string()

    def test_aggregates_of_one_case(self):
        entries = pr.case_entries("torch_cpu", self.p, [1.0, 2.0, 4.0], [], "rel_stderr 0.4% <= 0.5%",
                                 fake_accuracy(), 1234, {"kernel": "flash_attention_cpu"}, {"rows_checked": 256})
        self.assertEqual([e["aggregate_name"] for e in entries], list(pm.AGGREGATES))
        for e in entries:
            self.assertEqual(e["run_type"], "aggregate")
            self.assertEqual(e["run_name"], self.name)
            self.assertEqual(e["name"], self.name + "_" + e["aggregate_name"])
            self.assertEqual((e["backend"], e["problem"], e["status"]), ("torch_cpu", self.p.to_string(), "pass"))
            self.assertEqual((e["repetitions"], e["threads"], e["iterations"], e["time_unit"]), (3, 1, 1, "ms"))
            for key in ("max_abs_err", "max_rel_err", "nmse", "worst_of_bound", "tol_abs", "tol_rel", "pass",
                        "scratch_bytes", "note_kernel", "stopped_because"):
                self.assertIn(key, e)
            self.assertEqual(("flops" in e, "tflops" in e), (e["aggregate_name"] != "stddev",) * 2)
            self.assertEqual("samples_real_time" in e, e["aggregate_name"] == "median")
            self.assertEqual("samples_cpu_time" in e, e["aggregate_name"] == "median")
        agg = {e["aggregate_name"]: e for e in entries}
        self.assertEqual(agg["median"]["real_time"], 2.0)
        self.assertEqual(agg["median"]["samples_real_time"], [1.0, 2.0, 4.0])
        self.assertEqual(agg["max"]["real_time"], 4.0)
        self.assertEqual(agg["median"]["tflops"], self.p.flops() / 2e-3 / 1e12)
        self.assertEqual(agg["min"]["scratch_bytes"], 1234)
        self.assertFalse(agg["mean"]["device_clock"])

    def test_device_clock_goes_to_real_time_wall_to_cpu_time(self):
        entries = pr.case_entries("torch_flash", self.p, [5.0, 6.0, 7.0], [1.0, 2.0, 3.0], "x", fake_accuracy())
        med = entries[1]
        self.assertEqual((med["real_time"], med["cpu_time"]), (2.0, 6.0))
        self.assertEqual(med["samples_real_time"], [1.0, 2.0, 3.0])
        self.assertEqual(med["samples_cpu_time"], [5.0, 6.0, 7.0])
        self.assertTrue(med["device_clock"])

    def test_a_failed_check_is_status_fail_and_numbers_stay_finite(self):
        entries = pr.case_entries("torch_cpu", self.p, [1.0], [], "x", fake_accuracy(False))
        self.assertTrue(all(e["status"] == "fail" and e["pass"] == 0 for e in entries))
        self.assertIsNone(entries[0]["worst_of_bound"])  # inf is not JSON
        json.dumps(pr.results_document({}, entries), allow_nan=False)

    def test_a_skip_is_one_entry_with_the_reason(self):
        [e] = pr.skip_entries("torch_cudnn", self.p, "No available kernel")
        self.assertEqual((e["run_type"], e["status"], e["repetitions"], e["real_time"], e["cpu_time"]),
                         ("iteration", "skip", 0, 0, 0))
        self.assertTrue(e["error_occurred"])
        self.assertEqual(e["error_message"], "skip: No available kernel")
        self.assertEqual(e["name"], "torch_cudnn/" + self.p.to_string())
        [e] = pr.skip_entries("torch_cpu", self.p, "boom", "error")
        self.assertEqual((e["status"], e["error_message"]), ("error", "error: boom"))

    def test_document_names_its_format(self):
        doc = pr.results_document({"peer": "pytorch", "x": float("nan")}, [])
        self.assertEqual((doc["format"], doc["format_version"]), ("sdpa-bench-results", 2))
        self.assertEqual(list(doc), ["format", "format_version", "context", "benchmarks"])
        self.assertIsNone(doc["context"]["x"])
        self.assertRegex(pr.utc_now(), r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


class WriteTest(unittest.TestCase):
    def test_atomic_write_replaces_the_file_and_leaves_no_temporary(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "sub", "r.json")
            pr.write_atomically(path, {"a": 1})
            pr.write_atomically(path, {"a": 2})
            with open(path, encoding="utf-8") as f:
                self.assertEqual(json.load(f), {"a": 2})
            self.assertEqual(os.listdir(os.path.dirname(path)), ["r.json"])

    def test_a_failed_write_keeps_the_old_file(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "r.json")
            pr.write_atomically(path, {"a": 1})
            with self.assertRaises(ValueError):
                pr.write_atomically(path, {"a": float("nan")})
            with mock.patch("os.replace", side_effect=OSError("disk gone")), self.assertRaises(OSError):
                pr.write_atomically(path, {"a": 3})
            with open(path, encoding="utf-8") as f:
                self.assertEqual(json.load(f), {"a": 1})
            self.assertEqual(os.listdir(tmp), ["r.json"])


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

    def test_bad_arguments_exit_2_with_the_message(self):
        cases = {("--problem", "sq=0"): "sq=0: must be >= 1",
                 ("--problem", "sq=8", "--policy", "fast"): "must be default, quick, gate or p99",
                 ("--problem", "sq=8", "--device", "cpu", "--backend", "flash"): "not a cpu backend",
                 ("--problem", "sq=8", "--backend", "cpu_math"): "not a cuda backend",
                 ("--problem", "sq=8", "--threads", "0"): "--threads must be >= 1",
                 ("--suite", "no_such_suite"): "known suites:",
                 (): "nothing to run"}
        for argv, message in cases.items():
            with self.subTest(argv=argv):
                rc, _, err = self.run_main(*argv, "--dry-run")
                self.assertEqual(rc, 2)
                self.assertIn(message, err)

    def test_without_torch_it_exits_2_and_names_the_setup_script(self):
        with mock.patch.dict(sys.modules, {"torch": None}):
            rc, _, err = self.run_main("--device", "cpu", "--problem", "sq=8", "--out", os.devnull)
        self.assertEqual(rc, 2)
        self.assertIn("scripts/peers/setup-torch", err)

    @unittest.skipIf(torch is None, "torch not installed")
    def test_without_a_gpu_cuda_exits_2(self):
        if torch.cuda.is_available():
            self.skipTest("a CUDA device is present")
        rc, _, err = self.run_main("--problem", "sq=8,dtype=f16", "--out", os.devnull)
        self.assertEqual(rc, 2)
        self.assertIn("no CUDA device", err)


@unittest.skipIf(torch is None or np is None, "torch not installed (scripts/peers/setup-torch)")
class TorchCpuTest(unittest.TestCase):
    def test_a_short_cpu_run_writes_a_checked_results_file(self):
        problems = ["b=2,hq=4,hkv=2,sq=33,skv=40,d=32,dtype=bf16,mask=causal", "b=2,sq=16,d=16,mask=kvlen:16/0",
                    "sq=12,skv=5,d=8,dv=16,dtype=f16,mask=causal_br"]
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "r.json")
            argv = ["--device", "cpu", "--threads", "1", "--samples", "3", "--warmup", "0", "--out", out,
                    "--backend", "cpu", "--backend", "cpu_math"]
            for p in problems:
                argv += ["--problem", p]
            err = io.StringIO()
            with redirect_stderr(err):
                rc = t.main(argv)
            self.assertEqual(rc, 0, err.getvalue())
            with open(out, encoding="utf-8") as f:
                doc = json.load(f)
        self.assertEqual((doc["format"], doc["format_version"]), ("sdpa-bench-results", 2))
        self.assertEqual(doc["context"]["peer"], "pytorch")
        self.assertEqual(doc["context"]["threads_used"], "1")  # strings, as sdpa-bench writes its context
        medians = [e for e in doc["benchmarks"] if e.get("aggregate_name") == "median"]
        self.assertEqual(len(medians), 6)
        for e in medians:
            self.assertEqual(e["status"], "pass", e)
            self.assertEqual(len(e["samples_real_time"]), 3)
            self.assertGreater(e["busy_threads"], 0)
        kernels = {e["backend"] + " " + e["problem"]: e["note_kernel"] for e in medians}
        self.assertTrue(all(v.startswith("math") for k, v in kernels.items() if k.startswith("torch_cpu_math")))
        self.assertIn("flash_attention_cpu", kernels["torch_cpu " + pp.parse_problem(problems[0]).to_string()])


if __name__ == "__main__":
    unittest.main()

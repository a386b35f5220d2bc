"""Tests of scripts/report and report_lib: synthetic results files (versions 1 and 2) in a temp
folder, rendered through the real command line, and the figures read back. The tables come from
`sdpa-bench report --json`: the tests find the binary as scripts/report does ($SDPA_BENCH_EXE,
build/release/sdpa-bench, PATH) and fail, not skip, without it.

    /usr/bin/python3 scripts/report_test.py       (or -m unittest report_test from scripts/; CTest label: report)
    SDPA_GBENCH_TOOLS=<google/benchmark>/tools     where compare.py lives (default: Debian's libbenchmark-tools, /usr/share/benchmark)
"""
import base64
import html
import json
import re
import math
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

try:
    import matplotlib  # noqa: E402
except ImportError:
    # `python3 scripts/report_test.py` from a pyenv or venv python3 without matplotlib: run under
    # Debian's /usr/bin/python3, the interpreter scripts/report itself names (setup-deps installs
    # python3-matplotlib for it).
    debian = "/usr/bin/python3"
    if __name__ == "__main__" and os.path.exists(debian) and os.path.realpath(sys.executable) != os.path.realpath(debian):
        os.execv(debian, [debian, os.path.abspath(__file__), *sys.argv[1:]])
    raise

matplotlib.use("Agg")
import matplotlib.image  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

from report_lib import plots  # noqa: E402
from report_lib.problem import parse_problem  # noqa: E402
from report_lib.results import ResultsError, load_results, parse_results  # noqa: E402
from report_lib.series import file_tags, n_series, roof_of, roofline_points  # noqa: E402
from report_lib.stats import fit_power_law  # noqa: E402
from report_lib.tables import find_sdpa_bench, load_report  # noqa: E402

REPORT = os.path.join(HERE, "report")
NS = (256, 512, 1024, 2048)


def spec(n, dtype="f32", h=8, d=64, sq=None):
    sq = n if sq is None else sq
    return (f"b=1,hq={h},hkv={h},sq={sq},skv={n},d={d},dv={d},dtype={dtype},mask=none,"
            "scale=default,seed=1")


def case_fields(backend, problem, status="pass"):
    run = f"{backend}/{problem}"
    return {"name": run, "run_name": run, "backend": backend, "problem": problem, "status": status,
            "threads": 1, "iterations": 1, "time_unit": "ms"}


def counters(problem, p50_ms, scratch, nmse, worst, peak):
    flops = parse_problem(problem).flops()
    tflops = flops / (p50_ms * 1e-3) / 1e12
    return {"flops": flops, "tflops": tflops, "frac_of_gemm_peak": tflops / peak, "scratch_bytes": scratch,
            "nmse": nmse, "worst_of_bound": worst, "max_abs_err": 1e-6, "pass": 1}


def v2_entries(backend, problem, samples, scratch=1 << 20, nmse=1e-12, worst=0.01, peak=0.5):
    s = sorted(samples)
    aggregates = {"mean": sum(s) / len(s), "median": s[len(s) // 2], "stddev": 0.0, "min": s[0], "max": s[-1],
                  "p90": s[int(0.9 * (len(s) - 1))], "p99": s[-1]}
    out = []
    for name, t in aggregates.items():
        e = case_fields(backend, problem)
        e.update(run_type="aggregate", aggregate_name=name, real_time=t, cpu_time=t, repetitions=len(s))
        e.update(counters(problem, aggregates["median"], scratch, nmse, worst, peak))
        if name == "median":
            e["samples_real_time"] = list(samples)
            e["samples_cpu_time"] = list(samples)
        out.append(e)
    return out


def skip_entry(backend, problem, reason):
    e = case_fields(backend, problem, "skip")
    e.update(run_type="iteration", real_time=0, cpu_time=0, error_occurred=True, error_message=f"skip: {reason}")
    return e


def v2_doc(entries, **context):
    ctx = {"executable": "sdpa-bench", "cpu_model": "Synthetic CPU", "calibration_cpu_f32_tflops": 0.5,
           "calibrations": [{"device_class": "cpu", "dtype": "f32", "gemm": "test sgemm", "tflops": 0.5,
                             "from_library": True}]}
    ctx.update(context)
    return {"format": "sdpa-bench-results", "format_version": 2, "context": ctx, "benchmarks": entries}


def v1_doc(backend, ns, time_of_n):
    """Version 1: one iteration entry per sample, aggregates without sample arrays."""
    entries = []
    for n in ns:
        problem = spec(n)
        t = time_of_n(n)
        for i in range(4):
            e = case_fields(backend, problem)
            e.update(run_type="iteration", real_time=t, cpu_time=t, repetition_index=i, repetitions=4)
            entries.append(e)
        for e in v2_entries(backend, problem, [t] * 4):
            e.pop("samples_real_time", None), e.pop("samples_cpu_time", None)
            entries.append(e)
    return {"context": {"executable": "sdpa-bench", "cpu_model": "Old CPU", "calibration_cpu_tflops": 0.4},
            "benchmarks": entries}


def synthetic_v2():
    """naive: time ∝ n², scratch ∝ n²; blocked_cpu: time ∝ n^1.5, scratch constant; a skip and a
    decode step (sq = 1, not on the n-series but on the roofline); one bf16 series."""
    entries = []
    for n in NS:
        entries += v2_entries("naive", spec(n), [1e-5 * n * n] * 8, scratch=4 * 8 * n * n, nmse=1e-14 * n)
        entries += v2_entries("blocked_cpu", spec(n), [3e-4 * n ** 1.5] * 8, scratch=1 << 21, nmse=1e-14)
        entries += v2_entries("blocked_cpu", spec(n, "bf16"), [3e-4 * n ** 1.5] * 8, nmse=1e-5, worst=0.3)
    entries.append(skip_entry("onednn", spec(256), "no f16 matmul on this CPU"))
    entries += v2_entries("blocked_cpu", spec(4096, sq=1), [0.5] * 8)
    return v2_doc(entries, bandwidth_cpu_gbs=50.0, naive_device="cpu", blocked_cpu_device="cpu", onednn_device="cpu")


SPR = {"cpu_vendor": "GenuineIntel", "cpu_uarch": "sapphirerapids", "cpu_isa_tier": "amx", "cpu_cores_online": "2",
       "threads_used": "2"}
ZEN4 = {"cpu_model": "AMD EPYC 9R14", "cpu_vendor": "AuthenticAMD", "cpu_uarch": "zen4", "cpu_isa_tier": "avx512bf16",
        "cpu_cores_online": "2", "threads_used": "2"}


def measured_cases(doc):
    return {e["run_name"] for e in doc["benchmarks"] if e.get("aggregate_name") == "median"}


class TempDir(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.tmp = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()
        plt.close("all")

    def write(self, name, doc):
        path = os.path.join(self.tmp, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(doc if isinstance(doc, str) else json.dumps(doc))
        return path

    def report(self, *args):
        return subprocess.run([REPORT, *args], capture_output=True, text=True, timeout=300)


class StatsTest(unittest.TestCase):
    def test_power_law_recovers_the_exponent(self):
        fit = fit_power_law(NS, [3e-6 * n ** 2 for n in NS])
        self.assertAlmostEqual(fit.slope, 2.0, places=12)
        self.assertAlmostEqual(fit.r2, 1.0, places=12)
        self.assertAlmostEqual(fit_power_law(NS, [7] * 4).slope, 0.0, places=12)
        noisy = [3e-6 * n ** 2 * (1.5 if n == 1024 else 1) for n in NS]
        self.assertLess(fit_power_law(NS, noisy).r2, 0.999)
        self.assertIsNone(fit_power_law([1, 2], [0, 0]))  # nothing on a log axis


class ProblemTest(unittest.TestCase):
    def test_defaults_and_labels_follow_the_cpp_grammar(self):
        p = parse_problem("b=2,hq=8,hkv=2,sq=1024,d=64,dtype=f16,mask=causal,seed=7")
        self.assertEqual((p.skv, p.dv, p.hkv), (1024, 64, 2))
        self.assertEqual(p.short_label(), "b=2 h=8/2 n=1024 d=64 f16 causal seed=7")
        self.assertEqual(p.shape_label(), "b=2 h=8/2 n d=64 f16 causal seed=7")
        for bad in ("hq=6,hkv=4", "dtype=f8", "sq=0", "mask=diag", "colour=red"):
            with self.assertRaises(ValueError, msg=bad):
                parse_problem(bad)

    def test_flops_count_unmasked_pairs_only(self):
        for mask in ("none", "causal", "causal_br", "kvlen:3/9"):
            p = parse_problem(f"b=2,h=3,sq=7,skv=9,d=4,dv=6,mask={mask}")
            pairs = 0
            for bi in range(2):
                for i in range(7):
                    visible = {"none": 9, "causal": min(9, i + 1), "causal_br": min(9, max(0, i + 1 + 2)),
                               "kvlen:3/9": (3, 9)[bi]}[mask]
                    pairs += visible * 3
            self.assertEqual(p.flops(), pairs * 2 * (4 + 6), mask)
        p = parse_problem("b=1,h=2,hkv=1,sq=8,skv=16,d=4,dv=2,dtype=bf16")
        self.assertEqual(p.io_bytes(), 2 * (2 * 8 * 4 + 16 * 4 + 16 * 2 + 2 * 8 * 2))


class ReaderTest(TempDir):
    def test_version_2_cases_samples_and_skips(self):
        f = parse_results(synthetic_v2(), "x.json")
        self.assertEqual(f.format_version, 2)
        naive = f.cases[0]
        self.assertEqual((naive.backend, naive.samples_ms), ("naive", [1e-5 * 256 * 256] * 8))
        self.assertAlmostEqual(naive.counter("scratch_bytes"), 4 * 8 * 256 * 256)
        skip = [c for c in f.cases if c.status == "skip"]
        self.assertEqual([(s.backend, s.message, s.measured) for s in skip],
                         [("onednn", "no f16 matmul on this CPU", False)])

    def test_version_1_samples_come_from_iteration_entries(self):
        f = parse_results(v1_doc("naive", NS, lambda n: 0.001 * n), "old.json")
        self.assertEqual(f.format_version, 1)
        self.assertEqual(len(f.cases), len(NS))
        self.assertEqual(f.cases[1].samples_ms, [0.512] * 4)
        self.assertAlmostEqual(f.cases[1].p50_ms, 0.512)

    def test_foreign_and_broken_files_are_refused_with_the_file_named(self):
        gbench = {"context": {"executable": "./other_bench"}, "benchmarks": []}
        cases = {"gbench.json": gbench, "check.json": {"format": "sdpa-bench-check", "format_version": 2},
                 "future.json": dict(synthetic_v2(), format_version=3), "truncated.json": '{"format": "sdp',
                 "nostatus.json": v2_doc([{k: v for k, v in e.items() if k != "status"}
                                          for e in v2_entries("naive", spec(256), [1.0])])}
        for name, doc in cases.items():
            path = self.write(name, doc)
            with self.assertRaises(ResultsError) as ctx:
                load_results(path)
            self.assertIn(path, str(ctx.exception))


class FigureTest(unittest.TestCase):
    def setUp(self):
        self.doc = synthetic_v2()
        self.files = [parse_results(self.doc, "synthetic.json")]
        self.tags = file_tags(["synthetic.json"])
        self.style = plots.Style([c.backend for c in self.files[0].cases], self.tags)
        self.series = n_series(self.files, self.tags)

    def tearDown(self):
        plt.close("all")

    def test_latency_plot_has_one_series_per_backend_with_its_slope(self):
        f32 = [s for s in self.series if s.shape.dtype == "f32"]
        fig = plots.latency_figure("h=8 n d=64 f32", f32, self.style)
        labels = fig.axes[0].get_legend_handles_labels()[1]
        self.assertEqual(labels, ["naive: slope 2.00 (r² 1.000)", "blocked_cpu: slope 1.50 (r² 1.000)"])
        self.assertEqual([list(line.get_xdata()) for line in fig.axes[0].get_lines()], [list(NS)] * 2)

    def test_scratch_plot_slopes(self):
        f32 = [s for s in self.series if s.shape.dtype == "f32"]
        labels = plots.scratch_figure("t", f32, self.style).axes[0].get_legend_handles_labels()[1]
        self.assertEqual(labels, ["naive: slope 2.00", "blocked_cpu: slope 0.00"])

    def test_roofline_has_one_point_per_measured_case_and_both_roofs(self):
        groups = roofline_points(self.files, self.tags)
        self.assertEqual(set(groups), {("cpu", "f32"), ("cpu", "bf16")})
        drawn = 0
        for (device, dtype), points in groups.items():
            roof = roof_of(self.files[0], "", device, dtype)
            fig = plots.roofline_figure(device, dtype, points, [roof], self.style)
            drawn += sum(len(c.get_offsets()) for c in fig.axes[0].collections)
            labels = fig.axes[0].get_legend_handles_labels()[1]
            self.assertIn("memory roof 50 GB/s", labels)
            # The f32 peak is in the context; bf16 has none and is never held to the f32 one.
            self.assertEqual("f32 GEMM peak 0.5 TFLOP/s" in labels, dtype == "f32", labels)
        self.assertEqual(drawn, len(measured_cases(self.doc)))

    def test_a_device_is_read_and_a_gpu_never_guessed(self):
        doc = synthetic_v2()
        doc["context"]["naive_device"] = "gpu"
        del doc["context"]["blocked_cpu_device"]  # sdpa-bench files before per-backend devices: the host
        groups = roofline_points([parse_results(doc, "x.json")], [""])
        self.assertEqual(set(groups), {("gpu", "f32"), ("cpu", "f32"), ("cpu", "bf16")})
        doc["context"]["executable"] = "other.py"  # a file of another program is not guessed onto the CPU
        self.assertIn(("device not recorded", "f32"), set(roofline_points([parse_results(doc, "x.json")], [""])))
        v1 = parse_results(v1_doc("naive", NS, lambda n: 1.0), "v1.json")  # version 1: CPU only
        self.assertEqual(set(roofline_points([v1], [""])), {("cpu", "f32")})

    def test_several_files_are_told_apart_by_tag(self):
        tags = file_tags(["/a/m1/run.json", "/a/m2/run.json"])
        self.assertEqual(tags, ["m1/run.json", "m2/run.json"])
        files = [self.files[0], parse_results(v1_doc("naive", NS, lambda n: 1e-5 * n * n), "old")]
        style = plots.Style(["naive", "blocked_cpu"], tags)
        series = [s for s in n_series(files, tags) if s.backend == "naive"]
        labels = plots.latency_figure("t", series, style).axes[0].get_legend_handles_labels()[1]
        self.assertEqual(labels, ["naive [m1/run.json]: slope 2.00 (r² 1.000)",
                                  "naive [m2/run.json]: slope 2.00 (r² 1.000)"])

    def test_error_plot_per_dtype_shows_rms_and_bound(self):
        bf16 = [s for s in self.series if s.shape.dtype == "bf16"]
        fig = plots.error_figure("bf16", bf16, self.style)
        rms_ax, bound_ax = fig.axes
        rms = rms_ax.get_lines()[0].get_ydata()
        self.assertAlmostEqual(rms[0], math.sqrt(1e-5))
        self.assertEqual(list(bound_ax.get_lines()[0].get_ydata()), [0.3] * len(NS))


def markdown_tables(text):
    """The |-tables of `sdpa-bench report`, as lists of rows without the header and rule; an
    escaped bar (\\|) and <br> are read back as the text they stand for."""
    tables, current = [], None
    for line in text.splitlines():
        if not line.startswith("|"):
            current = None
            continue
        if current is None:
            current = []
            tables.append(current)
        elif not set(line) <= set("|-: "):
            cells = re.split(r"(?<!\\)\|", line.strip()[1:-1])
            current.append([c.strip().replace("\\|", "|").replace("<br>", "\n") for c in cells])
    return tables


def sdpa_bench():
    exe = find_sdpa_bench()
    if exe is None:
        raise AssertionError("no sdpa-bench binary: build it (cmake --build build/release) or set SDPA_BENCH_EXE; "
                             "the page's tables are its `report --json`")
    return exe


class TablesFromTheBinaryTest(TempDir):
    """The Markdown report and `report --json` are two printers of one computation: every table
    and cell must agree, and the page must show every cell of the JSON, so nothing in Python can
    drift from the C++ rules."""

    def doc_with_skip(self):
        doc = synthetic_v2()
        doc["benchmarks"] += v2_entries("onednn", spec(512), [0.3 + i / 1000 for i in range(500)], nmse=2e-13)
        doc["benchmarks"].append(skip_entry("onednn", spec(1024), "reason with a | bar\nand a line break"))
        return doc

    def test_markdown_and_json_tables_are_the_same(self):
        path = self.write("same.json", self.doc_with_skip())
        exe = sdpa_bench()
        text = subprocess.run([exe, "report", path], capture_output=True, text=True, check=True).stdout
        doc = json.loads(subprocess.run([exe, "report", "--json", "-", path], capture_output=True, text=True,
                                        check=True).stdout)
        tables = [t for t in doc["files"][0]["tables"] if t["rows"]]
        theirs = markdown_tables(text)
        self.assertEqual([t["id"] for t in doc["files"][0]["tables"]], ["latency", "throughput", "accuracy", "scaling"])
        self.assertEqual(len(theirs), len(tables))
        for table, rows in zip(tables, theirs):
            self.assertEqual([[c["text"] for c in row] for row in table["rows"]], rows, table["title"])
        latency = doc["files"][0]["tables"][0]
        skip = [c for row in latency["rows"] for c in row if c["kind"] == "skip" and c["text"]]
        self.assertEqual([(c["text"], c["title"]) for c in skip],
                         [("skip", "no f16 matmul on this CPU"), ("skip", "reason with a | bar\nand a line break")])

    def test_the_page_shows_every_cell_of_the_json(self):
        path = self.write("same.json", self.doc_with_skip())
        out = os.path.join(self.tmp, "html")
        r = self.report("--html", out, path)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(out, "index.html")) as f:
            page = f.read()
        report = load_report(None, [path])
        for table in report.files[0].tables:
            self.assertIn(html.escape(table.title), page)
            for row in table.rows:
                for c in row:
                    self.assertIn(html.escape(c.text or c.title, quote=True), page, table.title)


class CommandTest(TempDir):
    def assert_png(self, path):
        with open(path, "rb") as f:
            data = f.read()
        self.assertEqual(data[:8], b"\x89PNG\r\n\x1a\n", path)
        img = matplotlib.image.imread(path)
        self.assertGreater(min(img.shape[:2]), 300, path)
        # Non-trivial: a drawn figure has many distinct colours, a blank canvas has one.
        self.assertGreater(len({tuple(px) for px in img[::7, ::7].reshape(-1, img.shape[2])}), 20, path)
        return data

    def test_renders_v2_and_v1_files_into_a_self_contained_page(self):
        doc = synthetic_v2()
        doc["context"].update(SPR)
        new = self.write("m1/run.json", doc)
        old = self.write("m2/run.json", v1_doc("naive", NS, lambda n: 2e-5 * n * n))
        out = os.path.join(self.tmp, "html")
        r = self.report("--html", out, new, old)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(out, "index.html")) as f:
            page = f.read()
        pngs = sorted(x for x in os.listdir(out) if x.endswith(".png"))
        self.assertEqual(pngs, ["compare_bf16.png", "compare_f32.png", "error_bf16.png", "error_f32.png",
                                "latency_h8_n_d64_bf16.png",
                                "latency_h8_n_d64_f32.png", "roofline_cpu_bf16.png", "roofline_cpu_f32.png",
                                "scratch_h8_n_d64_bf16.png", "scratch_h8_n_d64_f32.png"])
        for name in pngs:
            data = self.assert_png(os.path.join(out, name))
            self.assertIn(f'href="{name}"', page)
            self.assertIn("data:image/png;base64," + base64.b64encode(data).decode(), page)
        self.assertNotIn('src="http', page)  # nothing fetched: it opens offline
        # Legends and headings name machines (the class), not files.
        for text in ("Tables: intel-sapphirerapids-amx-2c2t", "Tables: cpu-unknowngen-base", "no f16 matmul on this CPU",
                     "h=8 n=2048 d=64 f32", "Comparison of machines", "slower than A", "could not run"):
            self.assertIn(text, page)
        self.assertNotIn("[m1/run.json]", page)

    def test_comparison_section_answers_which_machine_is_faster(self):
        a, b = synthetic_v2(), synthetic_v2()
        a["context"].update(SPR)
        b["context"].update(ZEN4)
        b["context"]["noise_warning"] = "the calibration GEMMs differed by 27%"
        b["context"]["calibration_drift"] = 0.27
        b["benchmarks"] = [dict(e) for e in b["benchmarks"] if e.get("backend") != "onednn"]
        for e in b["benchmarks"]:  # B: blocked_cpu twice as fast
            if e.get("backend") == "blocked_cpu":
                for k in ("real_time", "cpu_time"):
                    e[k] = e[k] / 2
                if "samples_real_time" in e:
                    e["samples_real_time"] = [t / 2 for t in e["samples_real_time"]]
        pa, pb = self.write("a/run.json", a), self.write("b/run.json", b)
        report = load_report(None, [pa, pb])
        self.assertEqual(report.comparison["machines"], ["intel-sapphirerapids-amx-2c2t", "amd-zen4-avx512bf16-2c2t"])
        per = next(t for t in report.comparison_tables if t.id == "per_problem")
        # n = 2048: blocked_cpu is the best of both; 8 samples each, so p50s are compared, and said so.
        row = next(r for r in per.rows if r[0].text == "h=8 n=2048 d=64 f32")
        self.assertEqual([row[1].text.split()[0], row[2].text.split()[0]], ["blocked_cpu", "blocked_cpu"])
        self.assertEqual(row[3].text, "B is 2.00x faster than A (p50)")
        self.assertEqual(row[3].kind, "noisy")  # B's noise warning reaches the row
        out = os.path.join(self.tmp, "html")
        r = self.report("--html", out, pa, pb)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(out, "index.html")) as f:
            page = f.read()
        self.assertIn("B is 2.00x faster than A (p50)", page)
        # onednn skipped on A and is not in B's file: the case is listed with both reasons, not dropped.
        cannot = next(t for t in report.comparison_tables if t.id == "could_not_run")
        self.assertEqual([c.text for c in cannot.rows[0]],
                         ["onednn", "h=8 n=256 d=64 f32", "skip: no f16 matmul on this CPU", "not in the file"])
        self.assertIn("skip: no f16 matmul on this CPU</td><td class=\"skip\">not in the file", page)
        self.assertIn("<details><summary>", page)  # the rest of the context, collapsed

    def test_sdpa_bench_report_html_runs_this_renderer(self):
        path = self.write("m/run.json", synthetic_v2())
        out = os.path.join(self.tmp, "page")
        r = subprocess.run([sdpa_bench(), "report", "--html", out, path], capture_output=True, text=True, timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.exists(os.path.join(out, "index.html")))
        self.assertTrue(os.path.exists(os.path.join(out, "report.json")))
        env = dict(os.environ, SDPA_REPORT_PYTHON=os.path.join(self.tmp, "no-python"))
        r = subprocess.run([sdpa_bench(), "report", "--html", out, path], capture_output=True, text=True, env=env,
                           timeout=300)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("matplotlib", r.stderr)

    def test_foreign_or_missing_file_exits_2_naming_it(self):
        good = self.write("good.json", synthetic_v2())
        foreign = self.write("foreign.json", {"context": {"executable": "./bench"}, "benchmarks": []})
        missing = os.path.join(self.tmp, "missing.json")
        for bad in (foreign, missing):
            r = self.report("--html", os.path.join(self.tmp, "out"), good, bad)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn(bad, r.stderr)
            self.assertFalse(os.path.exists(os.path.join(self.tmp, "out", "index.html")))


class GoogleBenchmarkCompareTest(TempDir):
    """`report --gbench` read by Google Benchmark's own tools/compare.py: real times, a U test per
    case and OVERALL_GEOMEAN. compare.py ships in Debian's libbenchmark-tools (/usr/share/benchmark,
    installed by scripts/setup-deps with python3-scipy for its U test); SDPA_GBENCH_TOOLS points
    elsewhere, e.g. at a google/benchmark checkout's tools/ folder."""

    def setUp(self):
        super().setUp()
        tools = os.environ.get("SDPA_GBENCH_TOOLS", "/usr/share/benchmark")
        if not os.path.exists(os.path.join(tools, "compare.py")):
            self.skipTest(f"no compare.py in {tools} (install Debian's libbenchmark-tools, or set "
                          "SDPA_GBENCH_TOOLS to google/benchmark's tools/)")
        for module in ("numpy", "scipy"):
            try:
                __import__(module)
            except ImportError:
                self.skipTest(f"compare.py needs {module}, which {sys.executable} lacks")
        self.compare = os.path.join(tools, "compare.py")

    def test_compare_py_prints_times_p_values_and_the_geomean(self):
        a, b = synthetic_v2(), synthetic_v2()
        for e in b["benchmarks"]:
            if "samples_real_time" in e:  # B: 20% slower, with spread so that the U test has ranks
                e["samples_real_time"] = [t * (1.2 + i / 100) for i, t in enumerate(e["samples_real_time"])]
                e["samples_cpu_time"] = list(e["samples_real_time"])
        for doc in (a, b):
            for e in doc["benchmarks"]:
                if "samples_real_time" in e:
                    e["samples_real_time"] = [t * (1 + i / 1000) for i, t in enumerate(e["samples_real_time"])]
                    e["samples_cpu_time"] = list(e["samples_real_time"])
        pa, pb = self.write("a.json", a), self.write("b.json", b)
        out = os.path.join(self.tmp, "gb")
        subprocess.run([sdpa_bench(), "report", "--gbench", out, pa, pb], capture_output=True, text=True, check=True)
        r = subprocess.run([sys.executable, self.compare, "--no-color", "benchmarks", os.path.join(out, "A-a.json"),
                            os.path.join(out, "B-b.json")], capture_output=True, text=True, timeout=300,
                           env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
        self.assertEqual(r.returncode, 0, r.stderr)
        text = re.sub(r"\x1b\[[0-9;]*m", "", r.stdout)
        name = f"blocked_cpu/{spec(1024)}"
        rows = [line.split() for line in text.splitlines() if line.startswith(name + " ")]
        self.assertEqual(len(rows), 8)  # one per sample
        time_old, time_new = float(rows[0][3]), float(rows[0][4])
        self.assertAlmostEqual(time_old, 3e-4 * 1024 ** 1.5 * 1e6, delta=1)  # ns, not rounded to 0
        self.assertGreater(time_new, time_old)
        self.assertIn(f"{name}_pvalue", text)
        self.assertIn("OVERALL_GEOMEAN", text)


if __name__ == "__main__":
    unittest.main()

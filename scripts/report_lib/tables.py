"""The pivot tables of one results file (problem × backend), cell for cell the text report's
(harness/report.cpp): p90 / p99 by MLPerf's early-stopping rule, TFLOP/s with the fraction of
the same-dtype GEMM peak and the speed-up over naive, accuracy, and the scaling fits."""
import math
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

from .problem import try_parse
from .results import Case, ResultsFile
from .series import Series
from .stats import early_stopping_percentile, min_samples_for_percentile


@dataclass
class Cell:
    text: str
    kind: str = ""  # "" | "skip" | "bad" (fail, error, invalid): how the page colours it
    title: str = ""  # hover text: the skip reason, the sample count


@dataclass
class Table:
    title: str
    header: List[str]
    rows: List[List[Cell]] = field(default_factory=list)
    note: str = ""


def ms(v: float) -> str:
    """Three or four significant digits, wide enough for 0.0123 ms and 12345 ms alike."""
    if not (math.isfinite(v) and v > 0):
        return "—"
    return f"{v:.3g}" if v < 1 else f"{v:.4g}"


class Pivot:
    """Rows (problems) and columns (backends) in first-seen order."""

    def __init__(self, f: ResultsFile):
        self.problems = list(dict.fromkeys(c.problem for c in f.cases))
        self.backends = list(dict.fromkeys(c.backend for c in f.cases))
        self.cell: Dict[Tuple[str, str], Case] = {(c.problem, c.backend): c for c in f.cases}

    def table(self, title: str, note: str, fill) -> Table:
        t = Table(title=title, header=["problem"] + self.backends, note=note)
        for prob in self.problems:
            p = try_parse(prob)
            row = [Cell(p.short_label() if p else prob, title=prob)]
            for b in self.backends:
                c = self.cell.get((prob, b))
                row.append(Cell("") if c is None else fill(c, prob))
            t.rows.append(row)
        return t


def unmeasured(c: Case) -> Cell:
    return Cell(c.status, kind="skip" if c.status == "skip" else "bad", title=c.message)


def latency_table(f: ResultsFile) -> Table:
    def fill(c: Case, _prob) -> Cell:
        if not c.measured or not c.samples_ms:
            return unmeasured(c)
        p90 = early_stopping_percentile(c.samples_ms, 0.90)
        p99 = early_stopping_percentile(c.samples_ms, 0.99)
        text = ms(p90) if math.isfinite(p90) else f"n/a (needs {min_samples_for_percentile(0.90)})"
        if math.isfinite(p99):
            text += " / " + ms(p99)
        return Cell(text, kind="" if c.status == "pass" else "bad", title=f"{len(c.samples_ms)} samples")

    note = (f"Percentiles as bounded by MLPerf's early-stopping rule at 99% confidence; a p90 needs "
            f"{min_samples_for_percentile(0.90)} samples, a p99 {min_samples_for_percentile(0.99)} "
            "(left out below that).")
    return Pivot(f).table("Latency, single-stream (ms): p90 / p99", note, fill)


def throughput_table(f: ResultsFile) -> Table:
    pivot = Pivot(f)

    def fill(c: Case, prob) -> Cell:
        if not c.measured:
            return unmeasured(c)
        tf = c.counter("tflops", 0.0)
        text = f"{tf:.3g}" if tf >= 0.1 else f"{tf:.3f}"
        frac = c.counter("frac_of_gemm_peak")
        if frac is not None:
            text += f" ({100 * frac:.0f}%)"
        naive = pivot.cell.get((prob, "naive"))
        if naive is not None and naive is not c and naive.measured and c.p50_ms > 0:
            text += f" {naive.p50_ms / c.p50_ms:.1f}x"
        return Cell(text, kind="" if c.status == "pass" else "bad")

    return pivot.table("Throughput (TFLOP/s, % of the same-dtype GEMM peak, speed-up over naive)",
                       "FLOPs count 2·(d+dv) per unmasked (query, key) pair; the peak is the calibration GEMM "
                       "measured in the same run.", fill)


def accuracy_table(f: ResultsFile) -> Table:
    def fill(c: Case, _prob) -> Cell:
        worst = c.counter("worst_of_bound")
        if worst is None:
            return unmeasured(c)
        rms = math.sqrt(max(0.0, c.counter("nmse", 0.0)))
        prefix = "" if c.status == "pass" else c.status + " "
        return Cell(f"{prefix}{worst:.2f}; {rms:.1e}", kind="" if c.status == "pass" else "bad")

    return Pivot(f).table("Accuracy (worst fraction of the error bound; relative RMS error)",
                          "A case fails above 1.00; relative RMS = √NMSE against the fp64 reference.", fill)


def scaling_table(series: List[Series]) -> Table:
    t = Table(title="O(n²) scaling: log-log slope of median time and scratch bytes against n",
              header=["backend", "shape (n = sq = skv varies)", "n", "points", "time slope", "r²", "scratch slope",
                      "r²"])
    for s in series:
        time_fit = s.time_fit()
        if time_fit is None:
            continue
        mem = s.scratch_fit()
        ns = [p.n for p in s.points]
        t.rows.append([Cell(x) for x in (
            s.backend, s.shape_label, f"{min(ns)}-{max(ns)}", str(time_fit.points), f"{time_fit.slope:.2f}",
            f"{time_fit.r2:.3f}", f"{mem.slope:.2f}" if mem else "n/a", f"{mem.r2:.3f}" if mem else "")])
    if not t.rows:
        t.note = "No series with 3 or more lengths: nothing to fit."
    return t


CONTEXT_KEYS = ("cpu_model", "threads_used", "date", "git_commit", "suite", "stopping_policy")


def context_lines(f: ResultsFile) -> List[Tuple[str, str, bool]]:
    """(key, value, warning) for the file's header: the machine, the run, the peaks."""
    out = [(k, f.context_text(k), False) for k in CONTEXT_KEYS if f.context_text(k)]
    for k, v in f.context.items():
        if k.startswith("calibration_") and k.endswith("_tflops") and isinstance(v, (int, float)):
            out.append((k, f"{v:.4g}", False))
        elif k.startswith("bandwidth_") and k.endswith("_gbs") and isinstance(v, (int, float)):
            out.append((k, f"{v:.4g}", False))
    out += [(k, f.context_text(k), True) for k in ("noise_warning", "left_out") if f.context_text(k)]
    return out


def file_tables(f: ResultsFile, series: List[Series]) -> List[Table]:
    return [latency_table(f), throughput_table(f), accuracy_table(f), scaling_table(series)]

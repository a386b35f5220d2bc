"""From cases to what the plots draw: n-series (same shape, n = sq = skv varying), roofline points
and roofs. Everything here comes from the files: shapes from the problem specs, names from the
backends, tags from the paths, peaks and bandwidths from the contexts."""
import os
import re
from dataclasses import dataclass, field, replace
from typing import Dict, List, Optional, Sequence, Tuple

from .problem import Problem, try_parse
from .results import ResultsFile
from .stats import PowerFit, fit_power_law


def file_tags(paths: Sequence[str]) -> List[str]:
    """The shortest path suffixes that tell the files apart ("amd-zen5-avx512bf16-2c2t/scaling.json"); no tag
    for a single file, whose series need no telling apart."""
    if len(paths) < 2:
        return [""] * len(paths)
    split = [os.path.normpath(os.path.abspath(p)).split(os.sep) for p in paths]
    for depth in range(1, max(len(s) for s in split) + 1):
        tags = ["/".join(s[-depth:]) for s in split]
        if len(set(tags)) == len(tags):
            return tags
    return [f"{t} (#{i + 1})" for i, t in enumerate(tags)]  # the same path given twice


@dataclass
class Point:
    n: int
    p50_ms: float
    scratch_bytes: Optional[float]
    rel_rms: Optional[float]  # sqrt(nmse)
    worst_of_bound: Optional[float]


@dataclass
class Series:
    """One backend on one shape from one file, along n."""
    tag: str
    backend: str
    shape: Problem  # sq = skv = 1: the shape without its length
    points: List[Point] = field(default_factory=list)

    @property
    def shape_label(self) -> str:
        return self.shape.shape_label()

    def time_fit(self) -> Optional[PowerFit]:
        return _fit_if_enough([p.n for p in self.points], [p.p50_ms for p in self.points])

    def scratch_fit(self) -> Optional[PowerFit]:
        pts = [p for p in self.points if p.scratch_bytes is not None]
        return _fit_if_enough([p.n for p in pts], [p.scratch_bytes for p in pts])


# Three lengths at least before a slope is claimed, as the text report's scaling table does: two
# points always fit exactly and would print a confident slope from nothing.
MIN_FIT_POINTS = 3


def _fit_if_enough(xs, ys) -> Optional[PowerFit]:
    fit = fit_power_law(xs, ys)
    return fit if fit is not None and fit.points >= MIN_FIT_POINTS else None


def n_series(files: Sequence[ResultsFile], tags: Sequence[str]) -> List[Series]:
    """Every (file, backend, shape) with its measured square cases, points sorted by n."""
    by_key: Dict[Tuple[str, str, Problem], Series] = {}
    for f, tag in zip(files, tags):
        for c in f.cases:
            p = try_parse(c.problem)
            if p is None or not p.is_square() or not c.measured or not c.p50_ms > 0:  # NaN too
                continue
            shape = _without_length(p)
            s = by_key.setdefault((tag, c.backend, shape), Series(tag=tag, backend=c.backend, shape=shape))
            nmse = c.counter("nmse")
            s.points.append(Point(n=p.sq, p50_ms=c.p50_ms, scratch_bytes=c.counter("scratch_bytes"),
                                  rel_rms=None if nmse is None or nmse < 0 else nmse ** 0.5,
                                  worst_of_bound=c.counter("worst_of_bound")))
    for s in by_key.values():
        s.points.sort(key=lambda pt: pt.n)
    return list(by_key.values())


def _without_length(p: Problem) -> Problem:
    return replace(p, sq=1, skv=1)


def group_by(series: Sequence[Series], key) -> Dict[str, List[Series]]:
    """Series grouped by key(series), groups in first-seen order."""
    out: Dict[str, List[Series]] = {}
    for s in series:
        out.setdefault(key(s), []).append(s)
    return out


def distinguishing_labels(series: Sequence[Series], parts) -> List[str]:
    """A legend label per series made of the backend and only those of parts(series) -> [str]
    that differ within the figure (the rest goes in the title), plus the file tag."""
    split = [parts(s) for s in series]
    width = max((len(x) for x in split), default=0)
    split = [x + [""] * (width - len(x)) for x in split]
    varying = [i for i in range(width) if len({x[i] for x in split}) > 1]
    labels = []
    for s, x in zip(series, split):
        label = " ".join([s.backend] + [x[i] for i in varying if x[i]])
        labels.append(f"{label} [{s.tag}]" if s.tag else label)
    return labels


@dataclass
class RooflinePoint:
    tag: str
    backend: str
    intensity: float  # FLOP per byte of Q, K, V and O in storage
    tflops: float


@dataclass
class Roof:
    tag: str
    dtype: str
    peak_tflops: Optional[float]  # the same-dtype calibration GEMM
    peak_what: str
    bandwidth_gbs: Optional[float]

    def ridge_intensity(self) -> Optional[float]:
        """FLOP/byte where the memory roof meets the compute roof (None without both)."""
        if self.peak_tflops and self.bandwidth_gbs:
            return self.peak_tflops * 1000 / self.bandwidth_gbs
        return None


def device_of(f: ResultsFile, backend: str) -> str:
    """The backend's device class: <backend>_device, else a peer's own `device` ("cpu: ..."), else
    the host for sdpa-bench's files, which recorded no device before GPU backends existed and
    ran host backends only (the gate reads them the same way); a GPU backend, or a file of
    another program, is never guessed onto the CPU's roofline."""
    recorded = f.context_text(f"{backend}_device")
    if recorded:
        return recorded
    peer = f.context_text("device")
    if peer:
        return peer.split(":")[0]
    if f.context_text("executable") == "sdpa-bench" and not backend.startswith(("cudnn", "vulkan")):
        return "cpu"
    return "device not recorded"


def roofline_points(files: Sequence[ResultsFile], tags: Sequence[str]) -> Dict[Tuple[str, str], List[RooflinePoint]]:
    """(device, dtype) -> one point per measured case, in file order."""
    out: Dict[Tuple[str, str], List[RooflinePoint]] = {}
    for f, tag in zip(files, tags):
        for c in f.cases:
            p = try_parse(c.problem)
            if p is None or not c.measured or not c.p50_ms > 0:  # NaN too
                continue
            flops = c.counter("flops") or p.flops()
            tflops = c.counter("tflops") or flops / (c.p50_ms * 1e-3) / 1e12
            if not tflops > 0:
                continue
            out.setdefault((device_of(f, c.backend), p.dtype), []).append(
                RooflinePoint(tag=tag, backend=c.backend, intensity=flops / p.io_bytes(), tflops=tflops))
    return out


def roof_of(f: ResultsFile, tag: str, device: str, dtype: str) -> Roof:
    peak, what = gemm_peak(f, device, dtype)
    return Roof(tag=tag, dtype=dtype, peak_tflops=peak, peak_what=what,
                bandwidth_gbs=f.context_number(f"bandwidth_{device}_gbs"))


def gemm_peak(f: ResultsFile, device: str, dtype: str) -> Tuple[Optional[float], str]:
    """The best calibration GEMM of this device in this dtype, never another dtype's: a bf16 case
    held to the f32 peak would sit above its roof on an AMX machine."""
    best = None
    for c in f.context.get("calibrations", []) if isinstance(f.context.get("calibrations"), list) else []:
        if isinstance(c, dict) and c.get("device_class") == device and c.get("dtype") == dtype \
                and isinstance(c.get("tflops"), (int, float)) and (best is None or c["tflops"] > best["tflops"]):
            best = c
    if best is not None:
        return float(best["tflops"]), str(best.get("gemm", ""))
    peak = f.context_number(f"calibration_{device}_{dtype}_tflops")
    if peak is None and dtype == "f32":  # version 1 recorded the f32 GEMM only, unsuffixed
        peak = f.context_number(f"calibration_{device}_tflops")
        return peak, f.context_text(f"calibration_{device}_gemm")
    return peak, ""


def slug(text: str) -> str:
    """A file-name-safe form of a label: "h=8 n d=64 f32" -> "h8_n_d64_f32"."""
    return re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9.]+", "_", text.replace("=", ""))).strip("_") or "x"

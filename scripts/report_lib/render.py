"""Results files in, DIR/index.html and its PNGs out: decides which figures the data supports,
names them after the data, and hands the page its sections."""
import io
import os
from typing import List, Sequence

from . import plots
from .page import Context, Details, Plot, page_html
from .results import ResultsFile
from .series import (Series, file_tags, group_by, n_series, roof_of, roofline_points, slug)
from .tables import Report


class _Namer:
    """PNG names from labels, made unique should two labels slug alike."""

    def __init__(self):
        self.used = set()

    def __call__(self, stem: str) -> str:
        name, i = f"{stem}.png", 2
        while name in self.used:
            name, i = f"{stem}_{i}.png", i + 1
        self.used.add(name)
        return name


def _png(fig) -> bytes:
    buf = io.BytesIO()
    plots.save_png(fig, buf)
    return buf.getvalue()


def scaling_plots(series: Sequence[Series], style: plots.Style, name: _Namer) -> List[Plot]:
    """Latency and scratch against n for every shape where some backend has enough lengths to fit.
    A single length is no line: those cases are in the tables and on the roofline only."""
    lines = [s for s in series if len(s.points) >= 2]
    out = []
    for shape, group in group_by(lines, lambda s: s.shape_label).items():
        if not any(s.time_fit() for s in group):
            continue
        out.append(Plot(name(f"latency_{slug(shape)}"), _png(plots.latency_figure(shape, group, style)),
                        f"median latency against n, {shape}"))
        out.append(Plot(name(f"scratch_{slug(shape)}"), _png(plots.scratch_figure(shape, group, style)),
                        f"scratch memory against n, {shape}"))
    return out


def error_plots(series: Sequence[Series], style: plots.Style, name: _Namer) -> List[Plot]:
    """One figure per dtype, of the series with error figures at two lengths or more."""
    out = []
    lines = [s for s in series
             if sum(p.rel_rms is not None or p.worst_of_bound is not None for p in s.points) >= 2]
    for dtype, group in group_by(lines, lambda s: s.shape.dtype).items():
        out.append(Plot(name(f"error_{slug(dtype)}"), _png(plots.error_figure(dtype, group, style)),
                        f"{dtype}: relative RMS error and worst fraction of the bound against n"))
    return out


def roofline_plots(files: Sequence[ResultsFile], tags: Sequence[str], style: plots.Style, name: _Namer) -> List[Plot]:
    out = []
    for (device, dtype), points in roofline_points(files, tags).items():
        present = set(p.tag for p in points)
        roofs = [roof_of(f, t, device, dtype) for f, t in zip(files, tags) if t in present]
        fig = plots.roofline_figure(device, dtype, points, roofs, style)
        caption = f"roofline, {device} {dtype}: {len(points)} measured cases"
        for r in roofs:
            if r.peak_what:
                caption += f"; compute roof{' of ' + r.tag if r.tag else ''}: {r.peak_what}"
        no_peak = [r.tag or "this file" for r in roofs if not r.peak_tflops]
        if no_peak:
            caption += f"; no compute roof (no {dtype} calibration GEMM in {', '.join(no_peak)})"
        no_bandwidth = [r.tag or "this file" for r in roofs if not r.bandwidth_gbs]
        if no_bandwidth:
            caption += f"; no memory roof (no bandwidth_{device}_gbs in {', '.join(no_bandwidth)})"
        out.append(Plot(name(f"roofline_{slug(device)}_{slug(dtype)}"), _png(fig), caption))
    return out


def machine_tags(report: Report, paths: Sequence[str]) -> List[str]:
    """What legends call each file: its machine class (with the file where two share one), or the
    path suffix when the file names no machine; nothing when there is one file."""
    if len(paths) == 1:
        return [""]
    suffixes = file_tags(list(paths))
    names = [f.machine or s for f, s in zip(report.files, suffixes)]
    return [n if names.count(n) == 1 else f"{n} ({s})" for n, s in zip(names, suffixes)]


def comparison_plots(report: Report, tags: Sequence[str], name: _Namer) -> List[Plot]:
    """Grouped bars per dtype: every problem, each machine's best backend's time."""
    cmp = report.comparison
    out = []
    by_dtype = {}
    for p in cmp["problems"]:
        by_dtype.setdefault(p["dtype"], []).append(p)
    for dtype, problems in by_dtype.items():
        times, reasons = [], []
        for p in problems:
            times.append([(b["p90_ms"] if b["p90_ms"] is not None else b["p50_ms"]) if b["ran"] else None
                          for b in p["best"]])
            reasons.append([b["why_not"] for b in p["best"]])
        fig = plots.comparison_bars_figure(f"{dtype}: each machine's best backend", [p["label"] for p in problems],
                                           list(tags), times, reasons)
        caption = f"{dtype}: the best backend's p90 per machine and problem (lower is faster)"
        cannot = sum(t is None for row in times for t in row)
        if cannot:
            caption += f"; x: {cannot} time(s) a machine does not have (why: in the tables below)"
        out.append(Plot(name(f"compare_{slug(dtype)}"), _png(fig), caption))
    return out


def render(files: Sequence[ResultsFile], out_dir: str, report: Report, title: str = "sdpa-bench report") -> List[str]:
    """Writes out_dir/index.html and the PNGs; returns the paths written. The tables are
    `report`'s, as sdpa-bench computed them; the plots are drawn from the files."""
    tags = machine_tags(report, [f.path for f in files])
    style = plots.Style([c.backend for f in files for c in f.cases], tags)
    series = n_series(files, tags)
    name = _Namer()
    compare = comparison_plots(report, tags, name) if report.comparison else []
    scaling = scaling_plots(series, style, name)
    errors = error_plots(series, style, name)
    rooflines = roofline_plots(files, tags, style, name)
    sections = []
    if report.comparison:
        cmp = report.comparison
        # Rooflines with every machine's roofs on one chart belong to the comparison.
        items = ([report.comparison_tables[0], report.comparison_tables[1]] + compare + report.comparison_tables[2:]
                 + rooflines)
        if cmp["other_context"]:
            items.append(Details(f"{len(cmp['other_context'])} other context keys differ", cmp["other_context"]))
        sections.append(("Comparison of machines", items))
    sections += [
        ("Scaling with n", scaling or ["No shape with 3 or more measured lengths n = sq = skv: nothing to fit."]),
        ("Error against the fp64 reference", errors or ["No dtype with error figures at two lengths or more."]),
    ]
    if not report.comparison:
        sections.append(("Roofline", rooflines or ["No measured case."]))
    for f, tag, ft in zip(files, tags, report.files):
        sections.append((f"Tables: {tag or f.path}", ft.tables))
    contexts = [Context(path=f.path, tag=t, version=f.format_version, lines=ft.context_lines)
                for f, t, ft in zip(files, tags, report.files)]

    os.makedirs(out_dir, exist_ok=True)
    written = []
    for p in compare + scaling + errors + rooflines:
        path = os.path.join(out_dir, p.file_name)
        with open(path, "wb") as fh:
            fh.write(p.png)
        written.append(path)
    index = os.path.join(out_dir, "index.html")
    with open(index, "w", encoding="utf-8") as fh:
        fh.write(page_html(title, contexts, sections))
    return [index] + written

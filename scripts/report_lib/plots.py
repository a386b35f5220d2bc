"""The figures, as matplotlib Figure objects (Agg, no display): the page saves them as PNGs and the
tests read their legends and points back. One function per kind of figure."""
import math
from typing import Dict, List, Sequence

import matplotlib

matplotlib.use("Agg")  # before pyplot: a report runs on machines without a display
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

from .series import Roof, RooflinePoint, Series, distinguishing_labels  # noqa: E402

LINESTYLES = ("-", "--", ":", "-.")  # one per file, so machines read apart in one colour per backend
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


class Style:
    """Colour per backend and line / marker per file, the same in every figure of a page."""

    def __init__(self, backends: Sequence[str], tags: Sequence[str]):
        palette = plt.get_cmap("tab10").colors + plt.get_cmap("Dark2").colors
        self.colour = {b: palette[i % len(palette)] for i, b in enumerate(dict.fromkeys(backends))}
        order = list(dict.fromkeys(tags))
        self.linestyle = {t: LINESTYLES[i % len(LINESTYLES)] for i, t in enumerate(order)}
        self.marker = {t: MARKERS[i % len(MARKERS)] for i, t in enumerate(order)}


# Up to this many legend entries sit inside the axes; more go to the right of them, where they
# cover no data (a page with several machines easily has twenty series).
LEGEND_INSIDE_MAX = 5


def _figure(entries: int, width: float = 7.0, height: float = 4.6) -> Figure:
    """A figure sized for its legend: wider when the legend goes outside, taller when it is long."""
    if entries > LEGEND_INSIDE_MAX:
        width += 4.0
        height = max(height, 1.0 + 0.2 * entries)
    # 100 dpi: a 7-inch figure is 700 px, so latency and scratch sit side by side on the page.
    return plt.figure(figsize=(width, height), dpi=100, layout="constrained")


def _legend(ax, entries: int) -> None:
    if not ax.get_legend_handles_labels()[0]:
        return
    if entries > LEGEND_INSIDE_MAX:
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1.0))
    else:
        ax.legend(fontsize="small")


def _log_n_axis(ax, ns: Sequence[int], max_ticks: int = 9) -> None:
    """Base-2 axis labelled at the measured lengths, thinned so that labels never collide: a
    length within a factor 1.6 of the last labelled one (384 after 256) goes unlabelled."""
    ax.set_xscale("log", base=2)
    ticks = []
    for n in sorted(set(ns)):
        if not ticks or n >= 1.6 * ticks[-1]:
            ticks.append(n)
    stride = -(-len(ticks) // max_ticks)  # ceil: every 2nd, 3rd ... length on a crowded axis
    ticks = ticks[::stride]
    if ticks:
        ax.set_xticks(ticks, [str(n) for n in ticks])
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("n = sq = skv")


def _slope(fit) -> str:
    return f"slope {round(fit.slope, 2) + 0.0:.2f}"  # + 0.0: a flat series reads 0.00, not -0.00


def _nested(i: int) -> dict:
    """Hollow markers shrinking with the series' index: series with the same values (naive and
    oneDNN both allocate the n×n scores) then show as concentric rings, one per colour, instead of
    the last one drawn hiding the others."""
    return dict(markersize=max(3.0, 11.0 - 2.5 * i), markerfacecolor="none", markeredgewidth=1.6,
                linewidth=max(1.0, 2.0 - 0.3 * i))


def _readable_log_y(ax) -> None:
    """Plain numbers on a log y axis, with enough of them labelled to read a value off: matplotlib
    labels only powers of ten, so an axis spanning 3e-4 .. 9e-4 would carry no number at all."""
    lo, hi = ax.get_ylim()
    if hi / lo < 3:  # so narrow that no tick may fall inside: widen to a factor 3 around the data
        mid = math.sqrt(lo * hi)
        lo, hi = mid / math.sqrt(3), mid * math.sqrt(3)
        ax.set_ylim(lo, hi)
    decades = math.log10(hi / lo)
    labelled = set(range(1, 10)) if decades < 1 else {2, 3, 5} if decades <= 2 else set()
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))

    def minor(v, _pos):
        mantissa = round(v / 10 ** math.floor(math.log10(v) + 1e-9), 6)
        return f"{v:g}" if mantissa in labelled else ""
    ax.yaxis.set_minor_formatter(FuncFormatter(minor))


def _shape_parts(s: Series) -> List[str]:
    return [s.shape_label]


def _shape_parts_without_dtype(s: Series) -> List[str]:
    return [" ".join(x for x in s.shape.label_parts(with_length=False) if x != s.shape.dtype)]


def latency_figure(title: str, series: Sequence[Series], style: Style) -> Figure:
    """Median latency against n on log-log axes; the legend carries each series' fitted slope."""
    fig = _figure(len(series))
    ax = fig.add_subplot()
    for i, (s, label) in enumerate(zip(series, distinguishing_labels(series, _shape_parts))):
        fit = s.time_fit()
        fit_text = f"{_slope(fit)} (r² {fit.r2:.3f})" if fit else f"{len(s.points)} point(s), no fit"
        ax.plot([p.n for p in s.points], [p.p50_ms for p in s.points], marker=style.marker[s.tag],
                linestyle=style.linestyle[s.tag], color=style.colour[s.backend], label=f"{label}: {fit_text}",
                **_nested(i))
    _log_n_axis(ax, [p.n for s in series for p in s.points])
    ax.set_yscale("log")
    _readable_log_y(ax)
    ax.set_ylabel("median latency (ms)")
    ax.set_title(title, fontsize="medium")
    ax.grid(True, which="both", alpha=0.3)
    _legend(ax, len(series))
    return fig


def scratch_figure(title: str, series: Sequence[Series], style: Style) -> Figure:
    """Scratch bytes against n, log-log. A backend that allocates nothing cannot sit on a log
    axis: it is named in the legend with a marker-less entry instead of vanishing."""
    fig = _figure(len(series))
    ax = fig.add_subplot()
    drawn = False
    for i, (s, label) in enumerate(zip(series, distinguishing_labels(series, _shape_parts))):
        pts = [p for p in s.points if p.scratch_bytes is not None and p.scratch_bytes > 0]
        if not pts:
            recorded = any(p.scratch_bytes is not None for p in s.points)
            ax.plot([], [], linestyle="none", color=style.colour[s.backend],
                    label=f"{label}: {'0 bytes at every n' if recorded else 'not recorded'} (not drawn)")
            continue
        fit = s.scratch_fit()
        fit_text = _slope(fit) if fit else f"{len(pts)} point(s), no fit"
        ax.plot([p.n for p in pts], [p.scratch_bytes for p in pts], marker=style.marker[s.tag],
                linestyle=style.linestyle[s.tag], color=style.colour[s.backend], label=f"{label}: {fit_text}",
                **_nested(i))
        drawn = True
    _log_n_axis(ax, [p.n for s in series for p in s.points])
    if drawn:
        # Powers of two on the axis: byte counts in decades read as "953.674 MiB".
        ax.set_yscale("log", base=2)
        ax.yaxis.set_major_locator(LogLocator(base=2, numticks=8))
        ax.yaxis.set_major_formatter(_bytes_formatter())
        ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_ylabel("scratch memory beyond Q, K, V, O")
    ax.set_title(title, fontsize="medium")
    ax.grid(True, which="both", alpha=0.3)
    _legend(ax, len(series))
    return fig


def _bytes_formatter():
    def fmt(v, _pos):
        for unit, size in (("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
            if v >= size:
                return f"{v / size:.4g} {unit}"
        return f"{v:.4g} B"
    return FuncFormatter(fmt)


def error_figure(dtype: str, series: Sequence[Series], style: Style) -> Figure:
    """Relative RMS error and the worst fraction of the error bound against n, for one dtype.
    Colour is the backend, line style the file, marker the shape: one figure can hold several."""
    fig = _figure(len(series), 11.0, 4.8)
    rms_ax, bound_ax = fig.subplots(1, 2)
    labels = distinguishing_labels(series, _shape_parts_without_dtype)
    shape_marker = {}
    for s in series:
        shape_marker.setdefault(_shape_parts_without_dtype(s)[0], MARKERS[len(shape_marker) % len(MARKERS)])
    for i, (s, label) in enumerate(zip(series, labels)):
        kw = dict(marker=shape_marker[_shape_parts_without_dtype(s)[0]], linestyle=style.linestyle[s.tag],
                  color=style.colour[s.backend], label=label, **_nested(i))
        rms = [(p.n, p.rel_rms) for p in s.points if p.rel_rms is not None and p.rel_rms > 0]
        bound = [(p.n, p.worst_of_bound) for p in s.points if p.worst_of_bound is not None and p.worst_of_bound > 0]
        if rms:
            rms_ax.plot(*zip(*rms), **kw)
        if bound:
            bound_ax.plot(*zip(*bound), **kw)
    # The accuracy rule fails an element above 1: the line the right panel is read against.
    bound_ax.axhline(1.0, color="crimson", linewidth=1, linestyle="--")
    bound_ax.text(0.01, 1.0, " bound: fails above", color="crimson", fontsize="small", va="bottom",
                  transform=bound_ax.get_yaxis_transform())
    ns = [p.n for s in series for p in s.points]
    for ax, ylabel in ((rms_ax, "relative RMS error √NMSE"), (bound_ax, "worst |o−r| / bound")):
        _log_n_axis(ax, ns, max_ticks=7)
        ax.set_yscale("log")
        _readable_log_y(ax)
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
    common = _common_shape(series)
    fig.suptitle(f"{dtype} error against the fp64 reference" + (f" ({common})" if common else ""), fontsize="medium")
    # One legend, right of the right panel: the series are the same in both.
    _legend(bound_ax, len(series))
    return fig


def _common_shape(series: Sequence[Series]) -> str:
    shapes = {_shape_parts_without_dtype(s)[0] for s in series}
    return shapes.pop() if len(shapes) == 1 else ""


def roofline_figure(device: str, dtype: str, points: Sequence[RooflinePoint], roofs: Sequence[Roof],
                    style: Style) -> Figure:
    """TFLOP/s against arithmetic intensity (FLOP per byte of Q, K, V, O), one point per case.
    Roofs: the same-dtype GEMM peak and, where the context has a bandwidth, the memory slope."""
    groups: Dict[tuple, List[RooflinePoint]] = {}
    for p in points:
        groups.setdefault((p.backend, p.tag), []).append(p)
    # The legend always goes outside: the points fill every corner of a roofline.
    entries = max(LEGEND_INSIDE_MAX + 1, len(groups) + sum(bool(r.peak_tflops) + bool(r.bandwidth_gbs) for r in roofs))
    fig = _figure(entries, 4.0, 5.2)
    ax = fig.add_subplot()
    for (backend, tag), pts in groups.items():
        ax.scatter([p.intensity for p in pts], [p.tflops for p in pts], color=style.colour[backend],
                   marker=style.marker[tag], s=28, alpha=0.85, label=f"{backend} [{tag}]" if tag else backend)
    xs = [p.intensity for p in points]
    # The x range covers the cases and each ridge point, so every roof shows its knee.
    ridges = [r.ridge_intensity() for r in roofs if r.ridge_intensity()]
    lo, hi = min(xs + ridges) / 2, max(xs + ridges) * 2
    for roof in roofs:
        _draw_roof(ax, roof, lo, hi, style)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.xaxis.set_major_locator(LogLocator(base=10))
    ax.set_xlabel("arithmetic intensity (FLOP per byte of Q, K, V, O in storage)")
    _readable_log_y(ax)
    ax.set_ylabel("TFLOP/s (median)")
    ax.set_title(f"roofline: {device}, {dtype}", fontsize="medium")
    ax.grid(True, which="both", alpha=0.3)
    _legend(ax, entries)
    return fig


def _draw_roof(ax, roof: Roof, lo: float, hi: float, style: Style) -> None:
    tag = f" [{roof.tag}]" if roof.tag else ""
    ls = style.linestyle[roof.tag]
    ridge = roof.ridge_intensity()
    if roof.bandwidth_gbs:
        # TFLOP/s = GB/s · FLOP/B / 1000, up to the ridge where the compute roof takes over.
        end = ridge or hi
        ax.plot([lo, end], [roof.bandwidth_gbs * x / 1000 for x in (lo, end)], color="0.4", linestyle=ls,
                linewidth=1.2, label=f"memory roof {roof.bandwidth_gbs:.4g} GB/s{tag}")
    if roof.peak_tflops:
        ax.plot([ridge or lo, hi], [roof.peak_tflops] * 2, color="black", linestyle=ls, linewidth=1.2,
                label=f"{roof.dtype} GEMM peak {roof.peak_tflops:.3g} TFLOP/s{tag}")


def comparison_bars_figure(title: str, labels: Sequence[str], machines: Sequence[str],
                           times_ms: Sequence[Sequence[float]], reasons: Sequence[Sequence[str]]) -> Figure:
    """Grouped bars: one group per problem, one bar per machine in one colour per machine, the
    height each machine's best backend's time. A machine that could not run a problem gets no bar
    but an "x" at the axis (the tables say why: a skip and its reason, or not in the file)."""
    palette = plt.get_cmap("tab10").colors
    entries = len(machines)
    fig = _figure(entries, max(6.0, 0.9 * len(labels) * max(1, len(machines)) ** 0.5 + 2), 4.8)
    ax = fig.add_subplot()
    width = 0.8 / max(1, len(machines))
    finite = [t for row in times_ms for t in row if t is not None and t > 0]
    floor = min(finite) / 2 if finite else 1e-3
    for m, machine in enumerate(machines):
        xs = [i + (m - (len(machines) - 1) / 2) * width for i in range(len(labels))]
        heights = [times_ms[i][m] for i in range(len(labels))]
        drawn = [(x, h) for x, h in zip(xs, heights) if h is not None and h > 0]
        ax.bar([x for x, _ in drawn], [h for _, h in drawn], width=width * 0.95, color=palette[m % len(palette)],
               label=machine)
        missing = [x for x, h in zip(xs, heights) if not (h is not None and h > 0)]
        if missing:
            ax.scatter(missing, [floor * 1.1] * len(missing), marker="x", color=palette[m % len(palette)], s=40,
                       label=f"{machine}: no time ({len(missing)}: could not run, or not in the file)")
    ax.set_yscale("log")
    _readable_log_y(ax)
    ax.set_ylabel("best backend's p90 (ms)")  # p50 below 44 samples: the caption and table say
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=35, ha="right", fontsize="small")
    ax.set_title(title, fontsize="medium")
    ax.grid(True, axis="y", which="both", alpha=0.3)
    _legend(ax, entries + 1)
    return fig


def save_png(fig: Figure, path: str) -> None:
    fig.savefig(path, format="png")
    plt.close(fig)

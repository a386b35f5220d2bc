"""The plots' maths, pure: the power-law fit drawn through a latency or scratch series, by the
rule of fit_power_law() in harness/stats.cpp. Percentiles and every table number come from
`sdpa-bench report --json`, not from here."""
import math
from dataclasses import dataclass
from typing import Optional, Sequence


@dataclass(frozen=True)
class PowerFit:
    """log(y) = intercept + slope·log(x), least squares; r2 of the log-log fit."""
    slope: float
    intercept: float
    r2: float
    points: int

    def at(self, x: float) -> float:
        return math.exp(self.intercept) * x ** self.slope


def fit_power_law(xs: Sequence[float], ys: Sequence[float]) -> Optional[PowerFit]:
    """None with fewer than two usable points; non-positive values cannot be on a log axis and
    are left out, as fit_power_law() in C++ does."""
    pts = [(math.log(x), math.log(y)) for x, y in zip(xs, ys) if x > 0 and y > 0]
    if len(pts) < 2:
        return None
    n = len(pts)
    mx = sum(p[0] for p in pts) / n
    my = sum(p[1] for p in pts) / n
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    sxy = sum((p[0] - mx) * (p[1] - my) for p in pts)
    syy = sum((p[1] - my) ** 2 for p in pts)
    if sxx == 0:
        return None
    slope = sxy / sxx
    # A flat series (syy = 0) is fitted exactly by slope 0.
    r2 = sxy * sxy / (sxx * syy) if syy > 0 else 1.0
    return PowerFit(slope=slope, intercept=my - slope * mx, r2=r2, points=n)

"""The report's maths, pure: the same rules as harness/stats.cpp, so the page and the text
report print the same numbers from the same file."""
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


def min_samples_for_percentile(q: float, confidence: float = 0.99) -> int:
    """Samples needed for any q-quantile claim: q^n <= 1 - confidence (0.90 -> 44, 0.99 -> 459)."""
    return math.ceil(math.log(1.0 - confidence) / math.log(q))


def early_stopping_percentile(samples: Sequence[float], q: float, confidence: float = 0.99) -> float:
    """MLPerf's early-stopping bound on the q-quantile: the smallest order statistic x_(j) with
    P(Binomial(n, q) >= j) <= 1 - confidence. NaN when the samples cannot support the claim."""
    s = sorted(samples)
    n = len(s)
    if n == 0:
        return math.nan
    log_q, log_1q = math.log(q), math.log1p(-q)

    def log_pmf(i: int) -> float:
        return (math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_q + (n - i) * log_1q)

    # Upper tail accumulated from the top, in logs, so it stays exact for n in the thousands.
    tail, best = 0.0, -1
    for j in range(n, 0, -1):
        tail += math.exp(log_pmf(j))
        if tail > 1 - confidence:
            break
        best = j
    return math.nan if best < 0 else s[best - 1]

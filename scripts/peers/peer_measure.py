"""Statistics and stopping policies as sdpa-bench's harness/stats.cpp and harness/stopping.cpp:
percentiles by linear interpolation, the sample standard deviation, and the named policies that
decide when a case has enough samples. Standard library only."""

import json
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # scripts/: report_lib
from report_lib.problem import SpecError  # noqa: E402  (the one reader of problem lines)

AGGREGATES = ("mean", "median", "stddev", "min", "max", "p90", "p99")


def percentile(samples, q):
    """Linear interpolation between order statistics (NumPy's default), as harness/stats.cpp."""
    if not samples:
        return float("nan")
    s = sorted(samples)
    pos = min(max(q, 0.0), 100.0) / 100.0 * (len(s) - 1)
    lo = int(math.floor(pos))
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def summarize(samples):
    n = len(samples)
    if n == 0:
        return {agg: float("nan") for agg in AGGREGATES}
    mean = sum(samples) / n
    var = sum((x - mean) ** 2 for x in samples)
    return {"mean": mean, "median": percentile(samples, 50), "min": min(samples), "max": max(samples),
            "p90": percentile(samples, 90), "p99": percentile(samples, 99),
            "stddev": math.sqrt(var / (n - 1)) if n > 1 else 0.0}


@dataclass
class Policy:
    name: str = "default"
    warmup: int = 3
    min_samples: int = 64
    max_samples: int = 2000
    min_time_s: float = 0.25
    max_time_s: float = 10.0
    case_budget_s: float = 60.0
    target_rel_stderr: float = 0.005


# A copy of the registry in harness/stopping.cpp, used when no sdpa-bench binary is at hand;
# policies_from_binary() reads the binary's own list (`sdpa-bench list --policies --json`).
POLICIES = {
    "default": Policy(),
    "quick": Policy("quick", warmup=1, min_samples=8, min_time_s=0, max_time_s=2, case_budget_s=10,
                    target_rel_stderr=0.02),
    "gate": Policy("gate", warmup=2, min_samples=16, min_time_s=0.2, max_time_s=2, case_budget_s=10,
                   target_rel_stderr=0.02),
    "p99": Policy("p99", min_samples=662, max_samples=5000, max_time_s=60, case_budget_s=600),
}


def policies_from_binary(binary=None):
    """The binary's policies ({name: Policy}), or None where there is no binary (SDPA_BENCH, else
    build/release/sdpa-bench of this checkout) or it cannot list them."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    binary = binary or os.environ.get("SDPA_BENCH") or os.path.join(root, "build", "release", "sdpa-bench")
    if not os.access(binary, os.X_OK):
        return None
    try:
        listed = json.loads(subprocess.run([binary, "list", "--policies", "--json"], capture_output=True,
                                           check=True, timeout=30, text=True).stdout)
        fields = Policy.__dataclass_fields__
        return {p["name"]: Policy(**{k: v for k, v in p.items() if k in fields}) for p in listed}
    except (OSError, ValueError, KeyError, TypeError, subprocess.SubprocessError):
        return None


def stopping_policy(name, binary=None):
    """The named policy: the binary's numbers where it is at hand, else POLICIES."""
    policies = policies_from_binary(binary) or POLICIES
    if name not in policies:
        names = list(policies)
        raise SpecError(f"stopping policy '{name}': must be {', '.join(names[:-1])} or {names[-1]}")
    return policies[name]


def rel_stderr(samples):
    s = summarize(samples)
    if len(samples) < 2 or s["mean"] <= 0:
        return math.inf
    return s["stddev"] / math.sqrt(len(samples)) / s["mean"]


def measure(sample, policy, now=time.perf_counter):
    """Calls sample() -> (wall_ms, device_ms or None) until the policy says stop, as measure.cpp.
    Returns (wall_ms list, device_ms list (empty without a device clock), stopped_because)."""
    for _ in range(policy.warmup):
        sample()
    wall, device = [], []
    start = now()
    while True:
        w, dev = sample()
        wall.append(w)
        if dev is not None:
            device.append(dev)
        n = len(wall)
        elapsed = now() - start
        if n >= policy.max_samples:
            why = f"max_samples {policy.max_samples}"
        elif 3 <= n < policy.min_samples and elapsed >= policy.case_budget_s:
            why = f"case budget {policy.case_budget_s:.3g} s, {n} of {policy.min_samples} samples"
        elif n < policy.min_samples:
            continue
        elif elapsed >= policy.max_time_s:
            why = f"max_time {policy.max_time_s:.3g} s"
        elif elapsed < policy.min_time_s:
            continue
        else:
            rse = rel_stderr(device or wall)
            if rse > policy.target_rel_stderr:
                continue
            why = f"rel_stderr {100 * rse:.2g}% <= {100 * policy.target_rel_stderr:.2g}%"
        return wall, device, why


def policy_with_overrides(name, warmup=None, samples=None):
    """The named policy with the peers' --warmup and --samples applied (SpecError on a bad value):
    --samples N takes exactly N samples, with no time budget."""
    policy = stopping_policy(name)
    if warmup is not None:
        if warmup < 0:
            raise SpecError("--warmup must be >= 0")
        policy.warmup = warmup
    if samples is not None:
        if samples < 1:
            raise SpecError("--samples must be >= 1")
        policy.min_samples = policy.max_samples = samples
        policy.case_budget_s = math.inf
    return policy

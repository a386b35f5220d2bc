"""Problem specs as sdpa-bench writes them (core/problem.cpp): parsing, labels, FLOPs and bytes.

Only what a report needs: the reader accepts every spec the harness writes and refuses the rest
(a report then shows the raw spec and leaves the case out of fits and plots).
"""
from dataclasses import dataclass, field
from typing import Optional, Tuple

STORAGE_BYTES = {"f32": 4, "f16": 2, "bf16": 2}
MASKS = ("none", "causal", "causal_br")
KNOWN_KEYS = ("b", "h", "hq", "hkv", "sq", "skv", "d", "dv", "dtype", "mask", "scale", "seed", "dist")


class ProblemError(ValueError):
    pass


@dataclass(frozen=True)
class Problem:
    b: int = 1
    hq: int = 1
    hkv: int = 1
    sq: int = 1
    skv: int = 1
    d: int = 1
    dv: int = 1
    dtype: str = "f32"
    mask: str = "none"
    kvlen: Tuple[int, ...] = field(default=())
    scale: Optional[float] = None  # None: the default 1/sqrt(d)
    seed: int = 1
    dist: str = "normal"  # DESIGN.md's input distribution key; older specs never carry it

    def visible_pairs(self) -> float:
        """(query, key) pairs that the mask leaves, over batch and heads (Problem::visible_pairs)."""
        total = 0.0
        for bi in range(self.b):
            if self.mask == "none":
                per_head = self.sq * self.skv
            elif self.mask == "kvlen":
                per_head = self.sq * min(self.skv, self.kvlen[bi])
            else:
                # Row i sees clamp(i + 1 + shift, 0, skv) keys (top-left or bottom-right causal).
                shift = 0 if self.mask == "causal" else self.skv - self.sq
                per_head = _clamped_ramp_sum(self.sq, 1 + shift, self.skv)
            total += per_head * self.hq
        return float(total)

    def flops(self) -> float:
        """2·(d + dv) per unmasked pair: the FLOP rule of the results files."""
        return self.visible_pairs() * 2.0 * (self.d + self.dv)

    def io_bytes(self) -> float:
        """Q, K, V and O in the storage dtype: the least traffic any kernel must make."""
        elems = (self.b * self.hq * self.sq * self.d + self.b * self.hkv * self.skv * self.d +
                 self.b * self.hkv * self.skv * self.dv + self.b * self.hq * self.sq * self.dv)
        return float(elems * STORAGE_BYTES[self.dtype])

    def label_parts(self, with_length: bool = True):
        """short_label()'s parts (harness/report.cpp), so the page and the text report agree."""
        parts = []
        if self.b != 1:
            parts.append(f"b={self.b}")
        parts.append(f"h={self.hq}" + (f"/{self.hkv}" if self.hkv != self.hq else ""))
        if with_length:
            parts.append(f"n={self.sq}" if self.sq == self.skv else f"sq={self.sq} skv={self.skv}")
        else:
            parts.append("n")
        parts.append(f"d={self.d}" + (f"/{self.dv}" if self.dv != self.d else ""))
        parts.append(self.dtype)
        if self.mask != "none":
            parts.append(self.mask)
        if self.scale is not None:
            parts.append(f"scale={self.scale:g}")
        if self.seed != 1:
            parts.append(f"seed={self.seed}")
        if self.dist != "normal":
            parts.append(f"dist={self.dist}")
        return parts

    def short_label(self) -> str:
        return " ".join(self.label_parts())

    def shape_label(self) -> str:
        """The problem with n = sq = skv left free: the series a scaling fit runs along."""
        return " ".join(self.label_parts(with_length=False))

    def is_square(self) -> bool:
        """sq = skv and no per-item lengths: a point on an n-series."""
        return self.sq == self.skv and self.mask != "kvlen"


def _clamped_ramp_sum(n: int, c: int, cap: int) -> int:
    """Sum of clamp(i + c, 0, cap) for i in [0, n), in closed form (n reaches 65536 per case)."""
    lo, hi = max(0, 1 - c), min(n, max(0, cap - c))  # rows on the ramp: 0 < i + c < cap
    ramp = (hi - lo) * (lo + hi - 1 + 2 * c) // 2 if hi > lo else 0
    full_rows = max(0, n - max(0, cap - c))  # rows that see every key: i + c >= cap
    return ramp + full_rows * cap


def _dim(key: str, value: str) -> int:
    try:
        v = int(value)
    except ValueError:
        raise ProblemError(f"{key}={value}: must be an integer") from None
    if v < 1:
        raise ProblemError(f"{key}={value}: must be >= 1")
    return v


def parse_problem(spec: str) -> Problem:
    """The grammar of parse_problem() in core/problem.cpp (plus DESIGN.md's `dist`)."""
    seen = {}
    for item in spec.strip().split(","):
        key, eq, value = item.strip().partition("=")
        key, value = key.strip(), value.strip()
        if not eq or not key or not value:
            raise ProblemError(f"'{item}': expected key=value")
        if key not in KNOWN_KEYS:
            raise ProblemError(f"{key}: unknown key")
        if key in seen:
            raise ProblemError(f"{key}: given twice")
        seen[key] = value
    if "h" in seen and "hq" in seen:
        raise ProblemError("give h or hq, not both")
    hq = _dim("hq", seen.get("hq", seen.get("h", "1")))
    hkv = _dim("hkv", seen.get("hkv", str(hq)))
    if hq % hkv:
        raise ProblemError(f"hq={hq} must be a multiple of hkv={hkv}")
    b = _dim("b", seen.get("b", "1"))
    sq = _dim("sq", seen.get("sq", "1"))
    skv = _dim("skv", seen.get("skv", str(sq)))
    d = _dim("d", seen.get("d", "1"))
    dv = _dim("dv", seen.get("dv", str(d)))
    dtype = seen.get("dtype", "f32")
    if dtype not in STORAGE_BYTES:
        raise ProblemError(f"dtype={dtype}: must be one of f32, f16, bf16")
    mask, kvlen = seen.get("mask", "none"), ()
    if mask.startswith("kvlen:"):
        try:
            kvlen = tuple(int(x) for x in mask[6:].split("/"))
        except ValueError:
            raise ProblemError(f"mask={mask}: kvlen lengths must be integers") from None
        if len(kvlen) != b or any(x < 0 or x > skv for x in kvlen):
            raise ProblemError(f"mask={mask}: needs one length in 0..skv per batch item")
        mask = "kvlen"
    elif mask not in MASKS:
        raise ProblemError(f"mask={mask}: must be none, causal, causal_br or kvlen:L1/L2/...")
    scale = None
    if seen.get("scale", "default") != "default":
        try:
            scale = float(seen["scale"])
        except ValueError:
            raise ProblemError(f"scale={seen['scale']}: must be 'default' or a number") from None
    try:
        seed = int(seen.get("seed", "1"))
    except ValueError:
        raise ProblemError(f"seed={seen['seed']}: must be an integer") from None
    return Problem(b=b, hq=hq, hkv=hkv, sq=sq, skv=skv, d=d, dv=dv, dtype=dtype, mask=mask, kvlen=kvlen,
                   scale=scale, seed=seed, dist=seen.get("dist", "normal"))


def try_parse(spec: str) -> Optional[Problem]:
    try:
        return parse_problem(spec)
    except ProblemError:
        return None

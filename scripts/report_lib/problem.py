"""Problem specs as sdpa-bench's core/problem.cpp reads and prints them: the one Python reader of
spec lines, for the report (scripts/report) and every peer (scripts/peers). Same grammar, limits
and messages as the C++ parser (scripts/peers/problem_test.py checks it against core's fuzz
corpus), the canonical line (the key every results file joins on), labels, visible (query, key)
pairs, FLOPs and bytes. Standard library only.
"""
import math
import os
import re
from dataclasses import dataclass
from typing import Optional, Tuple

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUITES = os.path.join(REPO, "harness", "suites")

STORAGE_BYTES = {"f32": 4, "f16": 2, "bf16": 2}
MASKS = ("none", "causal", "causal_br")
KNOWN_KEYS = ("b", "h", "hq", "hkv", "sq", "skv", "d", "dv", "dtype", "mask", "scale", "seed", "dist")
MAX_DIM = 1 << 24  # beyond this a dimension is a typo
MAX_TENSOR_ELEMS = 1 << 40  # per tensor (Q, K, V, O)
MAX_SCORE_PAIRS = 1 << 50  # b*hq*sq*skv
MAX_SEED = (1 << 64) - 1
INT64_MAX = (1 << 63) - 1
MAX_INPUT_MAGNITUDE = 6.125  # the largest |x| of an N(0,1) input (core/problem.h)
FLT_MIN = 2.0 ** -126
FLT_MAX = float.fromhex("0x1.fffffep+127")
_SPACE = " \t\n\v\f\r"  # what C's isspace() trims; str.strip() would also take U+0085 and U+00A0


class SpecError(ValueError):
    """A malformed problem spec; the message names the key, the value and the rule."""


@dataclass(frozen=True)
class Problem:
    b: int = 1
    hq: int = 1
    hkv: int = 1
    sq: int = 1
    skv: int = 1
    d: int = 64
    dv: int = 64
    dtype: str = "f32"
    mask: str = "none"  # none, causal, causal_br, kvlen
    kvlen: Tuple[int, ...] = ()
    scale_value: Optional[float] = None  # None: the default 1/sqrt(d)
    seed: int = 1
    dist: str = "normal"  # the input distribution in canonical form; "normal" is N(0,1), never printed

    def scale(self) -> float:
        return self.scale_value if self.scale_value is not None else 1.0 / math.sqrt(self.d)

    def group(self) -> int:
        return self.hq // self.hkv

    def visible_keys(self, bi: int, i: int) -> int:
        """Keys [0, visible) that query row i of batch item bi sees (Problem::visible_keys)."""
        if self.mask == "causal":
            return min(self.skv, i + 1)
        if self.mask == "causal_br":
            return min(max(i + 1 + self.skv - self.sq, 0), self.skv)
        if self.mask == "kvlen":
            return min(self.skv, self.kvlen[bi])
        return self.skv

    def visible_pairs(self) -> int:
        """(query, key) pairs that the mask leaves, over batch and heads (Problem::visible_pairs)."""
        total = 0
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
        return total

    def flops(self) -> float:
        """2·(d + dv) per unmasked pair: the FLOP rule of the results files."""
        return float(self.visible_pairs()) * 2.0 * (self.d + self.dv)

    def scores(self) -> int:
        return self.b * self.hq * self.sq * self.skv

    def io_bytes(self) -> float:
        """Q, K, V and O in the storage dtype: the least traffic any kernel must make."""
        elems = (self.b * self.hq * self.sq * self.d + self.b * self.hkv * self.skv * self.d +
                 self.b * self.hkv * self.skv * self.dv + self.b * self.hq * self.sq * self.dv)
        return float(elems * STORAGE_BYTES[self.dtype])

    def to_string(self) -> str:
        """The canonical spec line, as Problem::to_string() writes it (benchmark names join on it)."""
        mask = "kvlen:" + "/".join(str(x) for x in self.kvlen) if self.mask == "kvlen" else self.mask
        scale = "default" if self.scale_value is None else _cpp_double(self.scale_value)
        line = (f"b={self.b},hq={self.hq},hkv={self.hkv},sq={self.sq},skv={self.skv},d={self.d},"
                f"dv={self.dv},dtype={self.dtype},mask={mask},scale={scale},seed={self.seed}")
        return line + (f",dist={self.dist}" if self.dist != "normal" else "")

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
        if self.scale_value is not None:
            parts.append(f"scale={self.scale_value:g}")
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


def _cpp_double(x: float) -> str:
    """A double as std::ostream with precision(17) prints it (%.17g)."""
    return format(x, ".17g")


def _printable(text: str) -> str:
    """Characters outside printable ASCII as \\xNN: the parser works on one character per byte
    (parse_problem's latin-1 view), so each is one byte of the line, as the C++ messages write it."""
    return "".join(ch if 0x20 <= ord(ch) < 0x7f else f"\\x{ord(ch):02x}" for ch in text)


def _fail(key: str, value: str, rule: str):
    raise SpecError(_printable(f"problem spec: {key}" + (f"={value}" if value else "") + f": {rule}"))


def _int(key: str, value: str, minimum: int) -> int:
    """std::from_chars into int64: an optional '-' and digits, nothing else, no overflow."""
    if not re.fullmatch(r"-?[0-9]+", value, re.ASCII) or not -INT64_MAX - 1 <= int(value) <= INT64_MAX:
        _fail(key, value, "must be an integer")
    result = int(value)
    if result < minimum:
        _fail(key, value, f"must be >= {minimum}")
    return result


def _dim(key: str, value: str) -> int:
    result = _int(key, value, 1)
    if result > MAX_DIM:
        _fail(key, value, f"must be <= {MAX_DIM}")
    return result


def _number(text: str) -> float:
    """A decimal as std::from_chars reads it (no '+', no hex, no '_'), else NaN (an out-of-range
    decimal is inf or 0 here, refused by every range check as from_chars refuses it)."""
    if not re.fullmatch(r"-?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?", text, re.ASCII):
        return float("nan")
    try:
        return float(text)
    except OverflowError:
        return float("inf")


def _checked_count(keys: str, factors, limit: int, what: str, why: str) -> None:
    product, fits = 1, True
    for f in factors:
        product *= f
        fits = fits and product <= INT64_MAX
    if fits and product <= limit:
        return
    log2 = sum(math.log2(f) for f in factors)
    power = f"2^{log2:.0f}" if log2 == math.floor(log2) else f"2^{log2:.2f}"
    size = f"{product} ({power})" if fits else power
    _fail(keys, "*".join(str(f) for f in factors), f"the problem needs {size} {what}, {why}")


def _empty_item(line: str, at: int, size: int):
    comma_before = at > 0 and line[at - 1] == ","
    comma_after = at + size < len(line) and line[at + size] == ","
    where = (f"after the ',' at position {at}" if comma_before else f"before the ',' at position {at + size + 1}")
    hint = ("a double comma?" if comma_before and comma_after else "a trailing comma?" if comma_before
            else "a leading comma?")
    raise SpecError(f"problem spec: empty item {where} ({hint})")


def _dist(d: int, value: str):
    """(canonical string, largest |input|) of a dist= value, or SpecError (parse_dist)."""
    rule = ("must be normal, normal:SIGMA (0 < SIGMA <= 1e4), uniform, outliers:C:M (channels 1 <= C <= d of Q "
            "and K scaled by 0 < M <= 1e4) or shift:MU (|MU| <= 1e4, added to Q and K)")
    parts = value.split(":")
    kind = parts[0]
    if kind == "normal" and len(parts) <= 2:
        sigma = 1.0 if len(parts) == 1 else _number(parts[1])
        if math.isfinite(sigma) and 0 < sigma <= 1e4:
            text = "normal" if sigma == 1 else f"normal:{_cpp_double(sigma)}"
            return text, (MAX_INPUT_MAGNITUDE if sigma <= 1 else 1.01 * MAX_INPUT_MAGNITUDE * sigma)
    elif kind == "uniform" and len(parts) == 1:
        return "uniform", MAX_INPUT_MAGNITUDE
    elif kind == "outliers" and len(parts) == 3:
        c, m = _number(parts[1]), _number(parts[2])
        if (math.isfinite(c) and 1 <= c <= d and c == math.floor(c) and math.isfinite(m) and 0 < m <= 1e4):
            mag = MAX_INPUT_MAGNITUDE if m <= 1 else 1.01 * MAX_INPUT_MAGNITUDE * m
            return f"outliers:{int(c)}:{_cpp_double(m)}", mag
    elif kind == "shift" and len(parts) == 2:
        mu = _number(parts[1])
        if math.isfinite(mu) and abs(mu) <= 1e4:
            return f"shift:{_cpp_double(mu)}", 1.01 * (MAX_INPUT_MAGNITUDE + abs(mu))
    _fail("dist", value, rule)


def max_scale(d: int, max_input: float = MAX_INPUT_MAGNITUDE) -> float:
    """The largest scale whose f32 logits stay finite (core/problem.cpp's max_scale)."""
    return FLT_MAX / (4.0 * max(d, 1) * max_input * max_input)


def parse_problem(spec) -> Problem:
    """Parses a spec line (str or bytes) with the rules and messages of core/problem.cpp; raises
    SpecError. The C++ parser sees bytes: the line is read as its UTF-8 bytes, one character each."""
    if isinstance(spec, str):
        spec = spec.encode("utf-8", "surrogateescape")
    line = spec.decode("latin-1")
    start = len(line) - len(line.lstrip(_SPACE))
    body = line.strip(_SPACE)
    if not body:
        _fail("spec", "", "is empty; expected key=value pairs separated by ','")
    seen = {}
    at = start
    for raw in body.split(","):
        item = raw.strip(_SPACE)
        if not item:
            _empty_item(line, at, len(raw))
        key, eq, value = item.partition("=")
        if not eq or not key:
            _fail(item, "", "expected key=value")
        key, value = key.strip(_SPACE), value.strip(_SPACE)
        if not value:
            _fail(key, "", "has no value")
        if key in seen:
            _fail(key, value, "is given twice")
        seen[key] = value
        at += len(raw) + 1
    for key in sorted(seen):
        if key not in KNOWN_KEYS:  # the C++ walks a std::map: the first unknown key by bytes
            _fail(key, seen[key], "unknown key; known keys: " + ",".join(KNOWN_KEYS))

    get = seen.get
    b = _dim("b", get("b")) if "b" in seen else 1
    if "h" in seen and "hq" in seen:
        _fail("h", seen["h"], "give h or hq, not both (h is an alias of hq)")
    hq = 1
    for key in ("h", "hq"):
        if key in seen:
            hq = _dim(key, seen[key])
    hkv = _dim("hkv", seen["hkv"]) if "hkv" in seen else hq
    if hq % hkv != 0:
        _fail("hkv", seen["hkv"], f"hq={hq} must be a multiple of hkv")
    sq = _dim("sq", seen["sq"]) if "sq" in seen else 1
    skv = _dim("skv", seen["skv"]) if "skv" in seen else sq
    d = _dim("d", seen["d"]) if "d" in seen else 64
    dv = _dim("dv", seen["dv"]) if "dv" in seen else d

    too_big = "more than any machine holds (at most 2^40 per tensor)"
    _checked_count("b*hq*sq*d", (b, hq, sq, d), MAX_TENSOR_ELEMS, "elements of Q", too_big)
    _checked_count("b*hkv*skv*d", (b, hkv, skv, d), MAX_TENSOR_ELEMS, "elements of K", too_big)
    _checked_count("b*hkv*skv*dv", (b, hkv, skv, dv), MAX_TENSOR_ELEMS, "elements of V", too_big)
    _checked_count("b*hq*sq*dv", (b, hq, sq, dv), MAX_TENSOR_ELEMS, "elements of O", too_big)
    _checked_count("b*hq*sq*skv", (b, hq, sq, skv), MAX_SCORE_PAIRS, "score pairs",
                   "more than any kernel gets through in a benchmark (at most 2^50)")

    dtype = get("dtype", "f32")
    if dtype not in STORAGE_BYTES:
        _fail("dtype", dtype, "must be one of f32, f16, bf16")

    mask, kvlen = get("mask", "none"), []
    if mask.startswith("kvlen:"):
        for length in mask[6:].split("/"):
            if not re.fullmatch(r"-?[0-9]+", length, re.ASCII) or int(length) > INT64_MAX or int(length) < 0:
                _fail("mask", mask, f"kvlen lengths must be integers >= 0 ('{length}' is not)")
            if int(length) > skv:
                _fail("mask", mask, f"kvlen {int(length)} exceeds skv={skv}")
            kvlen.append(int(length))
        if len(kvlen) != b:
            _fail("mask", mask, f"kvlen needs one length per batch item (b={b}, got {len(kvlen)})")
        mask = "kvlen"
    elif mask not in MASKS:
        _fail("mask", mask, "must be none, causal, causal_br or kvlen:L1/L2/...")

    dist, max_input = ("normal", MAX_INPUT_MAGNITUDE)
    if "dist" in seen:  # before scale: the scale limit depends on it
        dist, max_input = _dist(d, seen["dist"])
    scale = None
    if "scale" in seen and seen["scale"] != "default":
        s, hi = _number(seen["scale"]), max_scale(d, max_input)
        if not FLT_MIN <= s <= hi:  # below 2^-126 the scale is no longer a normal f32
            _fail("scale", seen["scale"],
                  "must be 'default' (1/sqrt(d)) or a number from 2^-126 to %.3g for d=%d: kernels compute logits "
                  "in f32, and 4*scale*d*%.3f^2 (four times the largest |logit|) must stay below its maximum %.3g"
                  % (hi, d, max_input, FLT_MAX))
        scale = s
    seed = 1
    if "seed" in seen:
        v = seen["seed"]
        if not re.fullmatch(r"[0-9]+", v, re.ASCII) or int(v) > MAX_SEED:
            _fail("seed", v, "must be an integer from 0 to 18446744073709551615 (2^64-1)")
        seed = int(v)
    return Problem(b=b, hq=hq, hkv=hkv, sq=sq, skv=skv, d=d, dv=dv, dtype=dtype, mask=mask, kvlen=tuple(kvlen),
                   scale_value=scale, seed=seed, dist=dist)


def try_parse(spec: str) -> Optional[Problem]:
    """The problem, or None where the spec is refused (a report then shows the raw line)."""
    try:
        return parse_problem(spec)
    except SpecError:
        return None


def load_suite(name_or_path: str):
    """Problem lines of a suite (a name in harness/suites or a path); '#' starts a comment."""
    path = name_or_path
    if not os.path.exists(path):
        path = os.path.join(SUITES, name_or_path + ".txt")
    if not os.path.exists(path):
        known = sorted(f[:-4] for f in os.listdir(SUITES) if f.endswith(".txt")) if os.path.isdir(SUITES) else []
        raise SpecError(f"suite {name_or_path}: no such file or suite (known suites: {', '.join(known)})")
    problems = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            try:
                problems.append(parse_problem(line))
            except SpecError as e:
                raise SpecError(f"{os.path.basename(path)}:{number}: {e}") from None
    return problems

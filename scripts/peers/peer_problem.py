"""Problem specs as sdpa-bench's core/problem.cpp reads and prints them: parsing with the same
rules and messages, the canonical line (the key every results file joins on), visible (query, key)
pairs and the FLOP count. Standard library only."""

import math
import os
import re
from dataclasses import dataclass, field

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUITES = os.path.join(REPO, "harness", "suites")
MAX_DIM = 1 << 24  # as core/problem.cpp: beyond this a dimension is a typo


class SpecError(ValueError):
    """A malformed problem spec or option; the message names the key, the value and the rule."""


@dataclass
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
    kvlen: list = field(default_factory=list)
    scale_value: float = None  # None: 1/sqrt(d)
    seed: int = 1

    def scale(self):
        return self.scale_value if self.scale_value is not None else 1.0 / math.sqrt(self.d)

    def group(self):
        return self.hq // self.hkv

    def visible_keys(self, bi, i):
        """Keys [0, visible) that query row i of batch item bi sees (core/problem.cpp)."""
        if self.mask == "causal":
            return min(self.skv, i + 1)
        if self.mask == "causal_br":
            return min(max(i + 1 + self.skv - self.sq, 0), self.skv)
        if self.mask == "kvlen":
            return min(self.skv, self.kvlen[bi])
        return self.skv

    def visible_pairs(self):
        pairs = 0
        for bi in range(self.b):
            if self.mask in ("none", "kvlen"):
                per_head = self.sq * self.visible_keys(bi, 0)
            else:
                per_head = sum(self.visible_keys(bi, i) for i in range(self.sq))
            pairs += per_head * self.hq
        return pairs

    def flops(self):
        return float(self.visible_pairs()) * 2.0 * (self.d + self.dv)

    def scores(self):
        return self.b * self.hq * self.sq * self.skv

    def to_string(self):
        """The canonical spec line, as Problem::to_string() writes it (benchmark names join on it)."""
        mask = "kvlen:" + "/".join(str(x) for x in self.kvlen) if self.mask == "kvlen" else self.mask
        scale = "default" if self.scale_value is None else _cpp_double(self.scale_value)
        return (f"b={self.b},hq={self.hq},hkv={self.hkv},sq={self.sq},skv={self.skv},d={self.d},"
                f"dv={self.dv},dtype={self.dtype},mask={mask},scale={scale},seed={self.seed}")


def _cpp_double(x):
    """A double as std::ostream with precision(17) prints it (%.17g)."""
    return format(x, ".17g")


def _fail(key, value, rule):
    raise SpecError(f"problem spec: {key}" + (f"={value}" if value else "") + f": {rule}")


def _int(key, value, minimum):
    if not re.fullmatch(r"-?[0-9]+", value):  # what std::from_chars accepts: no '+', '_' or spaces
        _fail(key, value, "must be an integer")
    result = int(value)
    if result < minimum:
        _fail(key, value, f"must be >= {minimum}")
    return result


def _float(value):
    """A decimal number as std::from_chars reads it (no '_', no leading '+'), else NaN."""
    if not re.fullmatch(r"-?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?", value):
        return float("nan")
    return float(value)


def _dim(key, value):
    result = _int(key, value, 1)
    if result > MAX_DIM:
        _fail(key, value, f"must be <= {MAX_DIM}")
    return result


KNOWN_KEYS = ("b", "h", "hq", "hkv", "sq", "skv", "d", "dv", "dtype", "mask", "scale", "seed")


def parse_problem(spec):
    """Parses a spec line with the rules of core/problem.cpp; raises SpecError."""
    spec = spec.strip()
    if not spec:
        _fail("spec", "", "is empty; expected key=value pairs separated by ','")
    seen = {}
    for item in spec.split(","):
        item = item.strip()
        key, eq, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or not key:
            _fail(item, "", "expected key=value")
        if not value:
            _fail(key, "", "has no value")
        if key in seen:
            _fail(key, value, "is given twice")
        seen[key] = value
    for key, value in sorted(seen.items()):  # the C++ walks a std::map: first unknown key by name
        if key not in KNOWN_KEYS:
            _fail(key, value, "unknown key; known keys: " + ",".join(KNOWN_KEYS))

    p = Problem()
    if "b" in seen:
        p.b = _dim("b", seen["b"])
    if "h" in seen and "hq" in seen:
        _fail("h", seen["h"], "give h or hq, not both (h is an alias of hq)")
    for key in ("h", "hq"):
        if key in seen:
            p.hq = _dim(key, seen[key])
    p.hkv = _dim("hkv", seen["hkv"]) if "hkv" in seen else p.hq
    if p.hq % p.hkv != 0:
        _fail("hkv", seen["hkv"], f"hq={p.hq} must be a multiple of hkv")
    if "sq" in seen:
        p.sq = _dim("sq", seen["sq"])
    p.skv = _dim("skv", seen["skv"]) if "skv" in seen else p.sq
    if "d" in seen:
        p.d = _dim("d", seen["d"])
    p.dv = _dim("dv", seen["dv"]) if "dv" in seen else p.d
    if "dtype" in seen:
        if seen["dtype"] not in ("f32", "f16", "bf16"):
            _fail("dtype", seen["dtype"], "must be one of f32, f16, bf16")
        p.dtype = seen["dtype"]
    if "mask" in seen:
        m = seen["mask"]
        if m in ("none", "causal", "causal_br"):
            p.mask = m
        elif m.startswith("kvlen:"):
            p.mask = "kvlen"
            for length in m[len("kvlen:"):].split("/"):
                value = _int("mask", length, 0)
                if value > p.skv:
                    _fail("mask", m, f"kvlen {value} exceeds skv={p.skv}")
                p.kvlen.append(value)
            if len(p.kvlen) != p.b:
                _fail("mask", m, f"kvlen needs one length per batch item (b={p.b}, got {len(p.kvlen)})")
        else:
            _fail("mask", m, "must be none, causal, causal_br or kvlen:L1/L2/...")
    if "scale" in seen and seen["scale"] != "default":
        s = _float(seen["scale"])
        if not math.isfinite(s) or s <= 0:
            _fail("scale", seen["scale"], "must be 'default' (1/sqrt(d)) or a positive finite number")
        p.scale_value = s
    if "seed" in seen:
        p.seed = _int("seed", seen["seed"], 0)
    return p


def load_suite(name_or_path):
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

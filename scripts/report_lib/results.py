"""Reading results files: the same contract as harness/results_file.cpp, in Python.

Version 2 (`"format": "sdpa-bench-results"`) stores per case the aggregates and, on the median
entry, every sample as arrays; version 1 (no format field, context.executable "sdpa-bench")
stored one `iteration` entry per sample. Anything else is refused with a ResultsError that names
the file, so a report never draws a Google Benchmark file of another program as if it were ours.
"""
import json
import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional

FORMAT = "sdpa-bench-results"
FORMAT_VERSION = 2
STATUSES = ("pass", "fail", "skip", "error", "invalid")
MS_PER_UNIT = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}


class ResultsError(Exception):
    """Bad input: the command exits 2 with this message."""


@dataclass
class Case:
    backend: str
    problem: str
    status: str = ""
    message: str = ""  # the skip / error reason
    samples_ms: List[float] = field(default_factory=list)
    time_ms: Dict[str, float] = field(default_factory=dict)  # aggregate name -> real_time
    counters: Dict[str, float] = field(default_factory=dict)  # numeric fields of the median entry

    @property
    def name(self) -> str:
        return f"{self.backend}/{self.problem}"

    @property
    def measured(self) -> bool:
        return "median" in self.time_ms

    @property
    def p50_ms(self) -> float:
        return self.time_ms.get("median", 0.0)

    def counter(self, key: str, fallback: Optional[float] = None) -> Optional[float]:
        v = self.counters.get(key)
        return fallback if v is None or not math.isfinite(v) else v


@dataclass
class ResultsFile:
    path: str
    format_version: int
    context: dict
    cases: List[Case]

    def context_number(self, key: str) -> Optional[float]:
        v = self.context.get(key)
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None

    def context_text(self, key: str) -> str:
        v = self.context.get(key)
        if v is None:
            return ""
        return v if isinstance(v, str) else json.dumps(v)


def _detect_version(doc, path: str) -> int:
    if not isinstance(doc, dict):
        raise ResultsError(f"{path}: not a results file (the top level is not a JSON object)")
    if "format" in doc:
        if doc["format"] != FORMAT:
            raise ResultsError(f"{path}: not a results file of sdpa-bench (format {json.dumps(doc['format'])})")
        v = doc.get("format_version")
        if not isinstance(v, int) or isinstance(v, bool):
            raise ResultsError(f"{path}: format_version missing or not an integer")
        if v < 1 or v > FORMAT_VERSION:
            raise ResultsError(f"{path}: format_version {v} is newer than this report reads ({FORMAT_VERSION}): "
                               "update sdpa-bench")
        return v
    ctx = doc.get("context")
    if isinstance(ctx, dict) and ctx.get("executable") == "sdpa-bench":
        return 1  # version 1 predates the format field; it is recognised by its context
    raise ResultsError(f"{path}: not a results file of sdpa-bench (no \"format\": \"{FORMAT}\" and no sdpa-bench "
                       "context; a Google Benchmark file of another program?)")


def _number(entry: dict, key: str, where: str) -> float:
    v = entry.get(key)
    if v is None:
        return math.nan
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        raise ResultsError(f"{where}: '{key}' is not a number")
    return float(v)


def _text(entry: dict, key: str, where: str) -> str:
    v = entry.get(key, "")
    if not isinstance(v, str):
        raise ResultsError(f"{where}: '{key}' is not a string")
    return v


def _samples(entry: dict, key: str, scale: float, where: str) -> List[float]:
    values = entry.get(key, [])
    if not isinstance(values, list):
        raise ResultsError(f"{where}: '{key}' is not an array")
    out = []
    for v in values:
        if v is None:
            continue  # the writer stores a non-finite sample as null
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            raise ResultsError(f"{where}: '{key}' holds a non-number")
        out.append(float(v) * scale)
    return out


def parse_results(doc, path: str) -> ResultsFile:
    version = _detect_version(doc, path)
    context = doc.get("context", {})
    if not isinstance(context, dict):
        raise ResultsError(f"{path}: 'context' is not an object")
    entries = doc.get("benchmarks")
    if not isinstance(entries, list):
        raise ResultsError(f"{path}: no 'benchmarks' array")
    cases: Dict[str, Case] = {}  # insertion order is file order
    for i, e in enumerate(entries):
        where = f"{path}: benchmarks[{i}]"
        if not isinstance(e, dict):
            raise ResultsError(f"{where}: not an object")
        run, backend, problem = (_text(e, k, where) for k in ("run_name", "backend", "problem"))
        if not run or not backend or not problem:
            raise ResultsError(f"{where}: needs run_name, backend and problem")
        case = cases.setdefault(run, Case(backend=backend, problem=problem))
        status = _text(e, "status", where)
        if status not in STATUSES:  # a missing status is never read as a pass
            raise ResultsError(f"{where}: status '{status}' is not one of {', '.join(STATUSES)}")
        case.status = status
        if e.get("error_occurred", False):
            message = _text(e, "error_message", where)
            case.message = message[len(status) + 2:] if message.startswith(status + ": ") else message
            continue
        unit = e.get("time_unit", "ms")
        if unit not in MS_PER_UNIT:
            raise ResultsError(f"{where}: time_unit '{unit}' is not ns, us, ms or s")
        scale = MS_PER_UNIT[unit]
        run_type = _text(e, "run_type", where)
        if run_type == "iteration":  # version 1: one entry per sample
            case.samples_ms.append(_number(e, "real_time", where) * scale)
            continue
        if run_type != "aggregate":
            raise ResultsError(f"{where}: run_type '{run_type}' is unknown")
        aggregate = _text(e, "aggregate_name", where)
        case.time_ms[aggregate] = _number(e, "real_time", where) * scale
        if aggregate != "median":
            continue
        case.counters = {k: float(v) for k, v in e.items()
                         if isinstance(v, (int, float)) and not isinstance(v, bool)
                         and k not in ("real_time", "cpu_time")}
        if version >= 2:
            case.samples_ms = _samples(e, "samples_real_time", scale, where)
    return ResultsFile(path=path, format_version=version, context=context, cases=list(cases.values()))


def load_results(path: str) -> ResultsFile:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise ResultsError(f"{path}: cannot read the results file ({e})") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        raise ResultsError(f"{path}: not JSON (truncated or not a results file)") from None
    return parse_results(doc, path)

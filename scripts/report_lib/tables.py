"""The tables of the page, as `sdpa-bench report --json` computed them: this module converts
that JSON into Table objects and computes nothing. Every pivot, percentile, ratio and geometric
mean lives in the C++ report (harness/report.cpp, harness/report_compare.cpp), once."""
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

REPORT_FORMAT = "sdpa-bench-report"
REPORT_FORMAT_VERSION = 1


class TablesError(Exception):
    """The tables could not be had: no sdpa-bench binary, or it refused the files (exit 2)."""


@dataclass
class Cell:
    text: str
    kind: str = ""  # "" | "skip" | "bad" | "noisy": how the page colours it
    title: str = ""  # hover text: the skip reason, the sample count


@dataclass
class Table:
    title: str
    header: List[str]
    rows: List[List[Cell]] = field(default_factory=list)
    note: str = ""
    id: str = ""


def table_of(t: dict) -> Table:
    return Table(title=t["title"], header=list(t["header"]), note=t.get("note", ""), id=t.get("id", ""),
                 rows=[[Cell(c["text"], c.get("kind", ""), c.get("title", "")) for c in row] for row in t["rows"]])


@dataclass
class FileTables:
    path: str
    machine: str  # the machine class ("" when the file has no cpu_model)
    format_version: int
    context_lines: List[Tuple[str, str, bool]]
    tables: List[Table]


@dataclass
class Report:
    files: List[FileTables]
    comparison: Optional[dict]  # the JSON as sdpa-bench wrote it (report_json.h), or None
    comparison_tables: List[Table]


def parse_report(doc: dict) -> Report:
    if not isinstance(doc, dict) or doc.get("format") != REPORT_FORMAT:
        raise TablesError("not an sdpa-bench report JSON (format is not 'sdpa-bench-report')")
    if doc.get("format_version") != REPORT_FORMAT_VERSION:
        raise TablesError(f"report JSON format_version {doc.get('format_version')}: this page reads "
                          f"{REPORT_FORMAT_VERSION}; use the sdpa-bench of this source tree")
    files = [FileTables(path=f["path"], machine=f.get("machine", ""), format_version=f["format_version"],
                        context_lines=[(x["key"], x["value"], bool(x["warning"])) for x in f["context_lines"]],
                        tables=[table_of(t) for t in f["tables"]]) for f in doc["files"]]
    cmp = doc.get("comparison")
    return Report(files=files, comparison=cmp, comparison_tables=[table_of(t) for t in cmp["tables"]] if cmp else [])


def find_sdpa_bench() -> Optional[str]:
    """$SDPA_BENCH_EXE, else this source tree's build/release/sdpa-bench, else sdpa-bench on PATH."""
    env = os.environ.get("SDPA_BENCH_EXE", "")
    if env:
        return env if os.access(env, os.X_OK) else None
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    built = os.path.join(root, "build", "release", "sdpa-bench")
    return built if os.access(built, os.X_OK) else shutil.which("sdpa-bench")


def load_report(tables_path: Optional[str], files: Sequence[str]) -> Report:
    """The tables from a `report --json` file, or from running `sdpa-bench report --json -`."""
    if tables_path:
        try:
            with open(tables_path, encoding="utf-8") as fh:
                return parse_report(json.load(fh))
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise TablesError(f"{tables_path}: {err}") from err
    exe = find_sdpa_bench()
    if exe is None:
        raise TablesError("the tables come from `sdpa-bench report --json`, and no sdpa-bench was found: build it "
                          "(cmake --preset release -B build/release && cmake --build build/release), set "
                          "SDPA_BENCH_EXE, or run `sdpa-bench report --html DIR FILES` instead")
    r = subprocess.run([exe, "report", "--json", "-", *files], capture_output=True, text=True)
    if r.returncode != 0:
        raise TablesError(r.stderr.strip() or f"{exe} report --json exited {r.returncode}")
    try:
        return parse_report(json.loads(r.stdout))
    except (ValueError, KeyError, TypeError) as err:
        raise TablesError(f"{exe} report --json: unreadable output: {err}") from err

"""The run loop of a NumPy-fed CPU peer (OpenVINO, ONNX Runtime): one Case per problem (inputs
rounded to the dtype, the fp64 reference), then per variant a prepared call, the accuracy check,
the timed samples and the results entries; the command line they share. A variant that cannot do
a problem raises Unsupported (a skip with the reason); any other exception is an error case.
A peer module supplies import_peer(), peer_context() and VARIANTS (name -> prepare function)."""

import argparse
import os
import platform
import sys
import time

from peer_accuracy import (ACCURACY_NOTE, INPUTS_NOTE, REFERENCE_FLOPS, accuracy_summary, check_accuracy,
                           make_inputs, reference, reference_row_stride)
from peer_measure import measure, policy_with_overrides
from report_lib.problem import REPO, SpecError, load_suite, parse_problem  # scripts/ is on sys.path via peer_measure
from peer_results import (FLOPS_NOTE, case_entries, cpuinfo_field, isa_flags, results_document, skip_entries,
                          utc_now, write_atomically)


class MissingDependency(Exception):
    pass


class Unsupported(Exception):
    """The peer cannot do this problem as asked (a mask kind, GQA, a dtype): a skip, with why."""


def add_prefix(name, env):
    """Puts the prefix of scripts/peers/setup-<name> on sys.path, so no PYTHONPATH is needed."""
    prefix = os.environ.get(env) or os.path.join(REPO, ".deps", name)
    site = os.path.join(prefix, "lib", f"python{sys.version_info[0]}.{sys.version_info[1]}", "site-packages")
    if os.path.isdir(site) and site not in sys.path:
        sys.path.insert(0, site)


def load_average():
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def base_context(executable, peer, policy, threads):
    import numpy
    return {
        "executable": executable, "peer": peer, "numpy_version": numpy.__version__,
        "python_version": platform.python_version(), "host_name": platform.node(), "date": utc_now(),
        "cpu_model": cpuinfo_field("model name"), "cpu_cores_online": str(os.cpu_count()),
        "isa_flags": isa_flags(), "threads_used": str(threads), "load_average_start": load_average(),
        "stopping_policy": policy.name + " (hot caches)",
        "busy_threads": ("per case: process CPU time / wall time while sampling, i.e. how many threads were on a "
                         "core on average; well below threads_used means the machine was shared"),
        "flops_rule": FLOPS_NOTE, "accuracy_rule": ACCURACY_NOTE, "inputs": INPUTS_NOTE,
        "device": f"cpu: {cpuinfo_field('model name')}, {threads} threads",
        "timing": ("real_time and cpu_time: wall clock (time.perf_counter) of one inference call, inputs already "
                   "in the peer's tensors, returning with the output computed; no device clock"),
    }


def round_bf16(x):
    """float32 -> the nearest bf16 value (ties to even) as float32, and its raw uint16 bits."""
    import numpy as np
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
    return (rounded.astype(np.uint32) << 16).view(np.float32), rounded


class Case:
    """One problem's inputs in the storage dtype and as float64, and its fp64 reference."""

    def __init__(self, p, reference_flops):
        import numpy as np
        self.p = p
        raw = make_inputs(p)
        if p.dtype == "f16":
            self.stored = [x.astype(np.float16) for x in raw]
            exact = [x.astype(np.float64) for x in self.stored]
        elif p.dtype == "bf16":
            pairs = [round_bf16(x) for x in raw]
            self.stored = [bits for _, bits in pairs]  # uint16 bit patterns; each peer wraps them
            exact = [value.astype(np.float64) for value, _ in pairs]
        else:
            self.stored = list(raw)
            exact = [x.astype(np.float64) for x in raw]
        self.q, self.k, self.v = self.stored
        self.rows, self.ref, self.abs_pv = reference(p, *exact, stride=reference_row_stride(p, reference_flops))

    def check(self, out):
        """Accuracy of a (b, hq, sq, dv) output (any float dtype) on the reference's rows."""
        import numpy as np
        flat = np.asarray(out, dtype=np.float64).reshape(-1, self.p.dv)[self.rows]
        return check_accuracy(self.p.dtype, flat, self.ref, self.abs_pv)


class Lazy:
    """An output fetched and converted only when the check reads it (numpy.asarray), so that the
    timed call is the inference alone: no copy out of the peer's tensor, no bf16 widening."""

    def __init__(self, fetch):
        self.fetch = fetch

    def __array__(self, dtype=None, copy=None):
        import numpy as np
        return np.asarray(self.fetch(), dtype=dtype)


def run_variant(name, prepare, case, policy, options):
    """prepare(case, options) -> (call, notes): call() runs one inference and returns the output
    as (b, hq, sq, dv), as an array of any float dtype (bf16: float32 holding bf16 values) or a
    Lazy that makes one."""
    p = case.p
    t0 = time.perf_counter()
    call, notes = prepare(case, options)
    notes["prepare"] = f"{time.perf_counter() - t0:.3g} s to build and compile (outside the timed calls)"
    acc = case.check(call())

    def sample():
        s = time.perf_counter()
        call()
        return (time.perf_counter() - s) * 1e3, None

    cpu0, wall0 = time.process_time(), time.perf_counter()
    wall, _, why = measure(sample, policy)
    busy = (time.process_time() - cpu0) / max(time.perf_counter() - wall0, 1e-9)
    extra = {"rows_checked": int(case.rows.size), "rows_total": p.b * p.hq * p.sq, "busy_threads": round(busy, 3)}
    return case_entries(name, p, wall, [], why, acc, 0, notes, extra), acc, notes


def run(problems, variants, policy, out_path, context, options, reference_flops=REFERENCE_FLOPS):
    """Every (problem, variant) case; returns the number that failed the check or errored."""
    entries, failures = [], 0
    total, index = len(problems) * len(variants), 0
    for p in problems:
        case = None
        for name, prepare in variants:
            index += 1
            try:
                if p.dist != "normal":
                    raise Unsupported(f"dist={p.dist}: the peer generates N(0,1) inputs only")
                if case is None:
                    case = Case(p, reference_flops)
                out, acc, notes = run_variant(name, prepare, case, policy, options)
            except Unsupported as e:
                entries += skip_entries(name, p, str(e))
                print(f"[{index}/{total}] {name} {p.to_string()}: skip: {e}", file=sys.stderr)
                continue
            except Exception as e:  # noqa: BLE001  (the peer's own errors: one failed case, not a crash)
                text = (str(e).strip().splitlines() or [type(e).__name__])[0][:400]
                entries += skip_entries(name, p, f"{type(e).__name__}: {text}", "error")
                failures += 1
                print(f"[{index}/{total}] {name} {p.to_string()}: error: {text}", file=sys.stderr)
                continue
            entries += out
            med = out[1]
            failures += 0 if acc["pass"] else 1
            print(f"[{index}/{total}] {name} {p.to_string()}: {med['status']}, p50 {med['real_time']:.4g} ms, "
                  f"{med['tflops']:.3g} TFLOP/s, {accuracy_summary(acc)}, {notes.get('path', '')}, "
                  f"{med['stopped_because']}, {med['busy_threads']:.2f} threads busy", file=sys.stderr)
    context["load_average_end"] = load_average()
    context["date_end"] = utc_now()
    write_atomically(out_path, results_document(context, entries))
    print(f"wrote {out_path}", file=sys.stderr)
    return failures


def parser(doc, tool, variants, default_variants):
    ap = argparse.ArgumentParser(prog=tool, description=doc.split("\n\n")[0])
    ap.add_argument("--suite", help="suite name (harness/suites/<name>.txt) or path")
    ap.add_argument("--problem", action="append", default=[], help="a problem spec line (repeatable)")
    ap.add_argument("--device", choices=("cpu",), default="cpu", help="cpu (the only one)")
    ap.add_argument("--variant", action="append", choices=variants,
                    help=f"repeatable; default: {', '.join(default_variants)}")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="intra-op threads (default: every core)")
    ap.add_argument("--policy", default="default", help="stopping policy: default, quick, p99")
    ap.add_argument("--warmup", type=int, help="untimed calls before sampling (default: the policy's)")
    ap.add_argument("--samples", type=int, help="exactly this many timed calls (overrides the policy)")
    ap.add_argument("--gqa", choices=("native", "repeat"), default="native",
                    help="GQA: the peer's own (a skip where it has none) or K/V heads repeated before timing")
    ap.add_argument("--reference-flops", type=float, default=REFERENCE_FLOPS,
                    help=f"fp64 reference budget; above it a row sample is checked (default {REFERENCE_FLOPS:g})")
    ap.add_argument("--out", default=f"{tool}.json", help=f"results file (default {tool}.json)")
    ap.add_argument("--dry-run", action="store_true", help="parse and print FLOPs; needs no peer")
    return ap


def parse_args(ap, args, tool):
    """(policy, problems) from the shared options, or SpecError."""
    policy = policy_with_overrides(args.policy, args.warmup, args.samples)
    if args.samples is not None:
        policy.name = f"exactly {args.samples} samples (--samples)"
    if args.warmup is not None:
        policy.name += f", {args.warmup} warm-up calls"
    if args.threads < 1:
        raise SpecError("--threads must be >= 1")
    problems = [parse_problem(s) for s in args.problem]
    if args.suite:
        problems += load_suite(args.suite)
    if not problems:
        raise SpecError("nothing to run: give --suite or --problem")
    return policy, problems


def main(argv, doc, tool, variants, default_variants, import_peer, peer_context, add_arguments=None):
    ap = parser(doc, tool, list(variants), default_variants)
    if add_arguments:
        add_arguments(ap)
    args = ap.parse_args(argv)
    try:
        policy, problems = parse_args(ap, args, tool)
    except SpecError as e:
        print(f"{tool}: {e}", file=sys.stderr)
        return 2
    if args.dry_run:
        for p in problems:
            print(f"{p.flops():.6e} flops  {p.visible_pairs()} pairs  {p.to_string()}")
        return 0
    try:
        module = import_peer()
    except MissingDependency as e:
        print(f"{tool}: {e}", file=sys.stderr)
        return 2
    chosen = args.variant or default_variants
    context = peer_context(module, policy, args)
    failures = run(problems, [(v, variants[v]) for v in chosen], policy, args.out, context, args,
                   args.reference_flops)
    return 1 if failures else 0

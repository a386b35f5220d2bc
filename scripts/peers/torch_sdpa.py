#!/usr/bin/env python3
"""Runs sdpa-bench problems through PyTorch's scaled_dot_product_attention and writes a results
file in sdpa-bench's format (version 2), so `sdpa-bench report` shows PyTorch beside the
project's own backends.

    scripts/peers/setup-torch                      # once: pinned torch + numpy in .deps/torch
    scripts/peers/torch_sdpa.py --device cpu --threads 2 --suite cpu_peak --out results-torch-cpu.json
    scripts/peers/torch_sdpa.py --device cuda --suite flash_sweep --out results/torch-cuda.json
    scripts/peers/torch_sdpa.py --device cuda --backend flash --problem b=2,hq=8,sq=1024,d=64,dtype=f16,mask=causal
    scripts/peers/torch_sdpa.py --suite smoke --dry-run     # parse and count FLOPs; needs no torch

Backends (benchmark names torch_<backend>): on CUDA one per PyTorch SDPA backend, pinned with
sdpa_kernel (cudnn, flash, efficient, math); on the CPU `cpu` (whatever PyTorch dispatches) and
the pinned `cpu_flash` and `cpu_math`. The kernel that actually ran is confirmed with
torch.profiler and recorded per case (note_kernel).

Every case is checked against an fp64 reference computed here with NumPy, with sdpa-bench's
accuracy rule |o - r| <= tol_abs*sum_k p_k|v_k| + tol_rel*|r| and its constants. Inputs are
N(0,1) from NumPy's PCG64 seeded with the problem's seed, rounded to the dtype: deterministic and
independent of thread count and device, but NOT bit-identical to sdpa-bench's counter-based
generator, so error figures are comparable in distribution, not element by element.

Timing follows sdpa-bench's stopping policies (warm-up, then at least 64 samples, until the
relative standard error of the mean is <= 0.5% or 10 s; `--policy quick`: 8 samples). CPU:
real_time = cpu_time = wall clock of one call. CUDA: real_time = CUDA events around the call
(device time), cpu_time = wall clock from the host call to completion (end-to-end latency).

Needs torch (and numpy) only to run; finds .deps/torch (scripts/peers/setup-torch) by itself.
Without torch it exits 2 and names the set-up script. Exit 1 if a case failed its check or
errored. The parts that know nothing of torch (statistics and stopping, reference and accuracy,
results file) are peer_*.py beside this file, for any other peer to reuse; problem lines are read
by scripts/report_lib/problem.py, the reader the report uses too.
"""

import argparse
import os
import platform
import re
import sys
import time
import warnings

from peer_accuracy import (ACCURACY_NOTE, INPUTS_NOTE, REFERENCE_FLOPS, accuracy_summary, check_accuracy,
                           make_inputs, reference, reference_row_stride)
from peer_measure import measure, policy_with_overrides
from report_lib.problem import REPO, SpecError, load_suite, parse_problem  # on sys.path via peer_measure
from peer_results import (FLOPS_NOTE, case_entries, cpuinfo_field, isa_flags, results_document, skip_entries,
                          utc_now, write_atomically)

SETUP = "scripts/peers/setup-torch"
CUDA_BACKENDS = ("cudnn", "flash", "efficient", "math")
CPU_BACKENDS = ("cpu", "cpu_flash", "cpu_math")
# The math backend materialises b*hq*sq*skv scores (and their softmax) in memory: above this
# many it is left out (skip with the reason) instead of running for minutes or exhausting memory.
MATH_MAX_SCORES = 1 << 28


def _add_local_prefix():
    """Puts the prefix of scripts/peers/setup-torch on sys.path, so no PYTHONPATH is needed."""
    prefix = os.environ.get("SDPA_TORCH_PREFIX") or os.path.join(REPO, ".deps", "torch")
    site = os.path.join(prefix, "lib", f"python{sys.version_info[0]}.{sys.version_info[1]}", "site-packages")
    if os.path.isdir(site) and site not in sys.path:
        sys.path.insert(0, site)


_add_local_prefix()


# ---- which kernel ran (torch.profiler event names) --------------------------------------------

SDPA_OPS = {  # the aten op each PyTorch SDPA path runs, as the profiler names it
    "aten::_scaled_dot_product_flash_attention_for_cpu": "flash_attention_cpu",
    "aten::_scaled_dot_product_flash_attention": "flash",
    "aten::_scaled_dot_product_efficient_attention": "efficient",
    "aten::_scaled_dot_product_cudnn_attention": "cudnn",
    "aten::_scaled_dot_product_fused_attention_overrideable": "fused_overrideable",
    "aten::_scaled_dot_product_attention_math": "math",
}


def kernel_from_profile(op_names, device_kernels=()):
    """A note naming the SDPA path PyTorch dispatched, from the profiler's op names, plus the
    longest-running device kernels (name, total time), if any."""
    found = [SDPA_OPS[n] + f" ({n})" for n in dict.fromkeys(op_names) if n in SDPA_OPS]
    note = "; ".join(found) if found else "unknown (no SDPA op in the profile)"
    if device_kernels:
        kernels = sorted(device_kernels, key=lambda kv: -kv[1])[:2]
        note += "; device kernels: " + ", ".join(name[:100] for name, _ in kernels)
    return note


def memory_peak(events):
    """Peak of the running sum of (start time, bytes) allocation (+) and free (-) events."""
    peak = cur = 0
    for _, size in sorted(events, key=lambda e: e[0]):
        cur += size
        peak = max(peak, cur)
    return peak


# ---- torch ------------------------------------------------------------------------------

class MissingDependency(Exception):
    pass


def import_torch(device):
    """torch and numpy, or MissingDependency with what to do."""
    # Kineto's start/stop chatter (and "gpuGetDeviceCount failed" without a GPU) on every profile.
    os.environ.setdefault("KINETO_LOG_LEVEL", "5")
    try:
        import numpy  # noqa: F401  (the fp64 reference)
        import torch
        from torch.nn.attention import SDPBackend, sdpa_kernel  # noqa: F401  (PyTorch >= 2.3)
    except ImportError as e:
        raise MissingDependency(f"PyTorch (2.3 or newer) and NumPy are needed: {e}; install them with {SETUP} "
                                f"(pinned, into .deps/torch, found by this script)") from None
    if device == "cuda" and not torch.cuda.is_available():
        raise MissingDependency(f"torch {torch.__version__} sees no CUDA device (built for CUDA "
                                f"{torch.version.cuda}); use --device cpu for PyTorch's CPU SDPA")
    return torch


def _version_string(v):
    """cuDNN's integer version as text: 91900 -> 9.19.0 (cuDNN 9), 8902 -> 8.9.2 (cuDNN 8)."""
    if v is None:
        return "none"
    return f"{v // 10000}.{v % 10000 // 100}.{v % 100}" if v >= 10000 else f"{v // 1000}.{v % 1000 // 100}.{v % 100}"


def _load_average():
    """1, 5, 15-minute load averages: other work on the machine shows in the timings."""
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def torch_context(torch, device, policy, gqa):
    import numpy
    ctx = {
        "executable": "torch_sdpa.py",
        "peer": "pytorch",
        "torch_version": torch.__version__,
        "numpy_version": numpy.__version__,
        "python_version": platform.python_version(),
        "host_name": platform.node(),
        "date": utc_now(),
        "cpu_model": cpuinfo_field("model name"),
        "cpu_cores_online": str(os.cpu_count()),
        "isa_flags": isa_flags(),
        "threads_used": str(torch.get_num_threads()),
        "load_average_start": _load_average(),
        "stopping_policy": policy.name + " (hot caches)",
        "busy_threads": ("per case: process CPU time / wall time while sampling, i.e. how many threads were on a "
                         "core on average; well below threads_used means the machine was shared (or the kernel "
                         "serialised) and the latencies include waiting for cores"),
        "flops_rule": FLOPS_NOTE,
        "accuracy_rule": ACCURACY_NOTE,
        "inputs": INPUTS_NOTE,
        "gqa": ("enable_gqa=True (K/V not copied)" if gqa == "native"
                else "K/V heads expanded with repeat_interleave before timing"),
    }
    try:
        ctx["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    except AttributeError:
        pass
    if torch.backends.mkldnn.is_available():
        ctx["torch_mkldnn"] = "available"
    if device == "cpu":
        ctx["device"] = f"cpu: {ctx['cpu_model']}, {ctx['threads_used']} threads"
        ctx["timing"] = ("real_time and cpu_time: wall clock (time.perf_counter) of one scaled_dot_product_attention "
                         "call on the CPU, the call returning with the output computed; no device clock")
        return ctx
    props = torch.cuda.get_device_properties(0)
    ctx.update({
        "device": f"cuda: {props.name}",
        "timing": ("real_time: device time, CUDA events recorded around one scaled_dot_product_attention call; "
                   "cpu_time: end-to-end latency, wall clock from the host call to completion (event synchronize)"),
        "cuda_runtime": str(torch.version.cuda),
        "cudnn_version": _version_string(torch.backends.cudnn.version()),
        "cuda_device": props.name,
        "cuda_compute_capability": f"{props.major}.{props.minor}",
        "cuda_sm_count": str(props.multi_processor_count),
        "cuda_mem_bytes": str(props.total_memory),
    })
    if hasattr(props, "L2_cache_size"):
        ctx["cuda_l2_bytes"] = str(props.L2_cache_size)
    try:  # private, but the only place torch reports the driver's CUDA version
        v = torch._C._cuda_getDriverVersion()
        ctx["cuda_driver"] = f"{v // 1000}.{v % 1000 // 10}"
    except (AttributeError, RuntimeError):
        pass
    return ctx


TORCH_DTYPES = {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}


class Case:
    """One problem's inputs (rounded to the dtype, on the CPU) and its fp64 reference."""

    def __init__(self, torch, p, reference_flops):
        dtype = getattr(torch, TORCH_DTYPES[p.dtype])
        q, k, v = make_inputs(p)
        self.torch, self.p = torch, p
        self.q, self.k, self.v = (torch.from_numpy(x).to(dtype) for x in (q, k, v))
        self.stride = reference_row_stride(p, reference_flops)
        self.rows, self.ref, self.abs_pv = reference(
            p, *(t.to(torch.float64).numpy() for t in (self.q, self.k, self.v)), stride=self.stride)

    def check(self, out):
        """Accuracy of a (b, hq, sq, dv) output on the reference's rows."""
        flat = out.detach().to("cpu", self.torch.float64).reshape(-1, self.p.dv).numpy()[self.rows]
        return check_accuracy(self.p.dtype, flat, self.ref, self.abs_pv)


def attention_call(torch, p, q, k, v, gqa):
    """The SDPA call for this problem's mask and GQA. Masks beyond is_causal become what PyTorch
    offers: causal_lower_right for causal_br, a boolean key mask (True: attend) for kvlen."""
    import torch.nn.functional as F
    kwargs = {"scale": p.scale()}
    if p.hq != p.hkv:
        if gqa == "native":
            kwargs["enable_gqa"] = True  # PyTorch >= 2.5; older raises TypeError -> skip
        else:
            k = k.repeat_interleave(p.group(), dim=1)
            v = v.repeat_interleave(p.group(), dim=1)
    if p.mask == "causal":
        kwargs["is_causal"] = True  # top-left, as the spec's causal
    elif p.mask == "causal_br":
        from torch.nn.attention.bias import causal_lower_right
        kwargs["attn_mask"] = causal_lower_right(p.sq, p.skv)
    elif p.mask == "kvlen":
        keys = torch.arange(p.skv, device=q.device)
        lengths = torch.tensor(p.kvlen, device=q.device)
        kwargs["attn_mask"] = (keys[None, :] < lengths[:, None])[:, None, None, :]

    def call():
        with torch.inference_mode():
            return F.scaled_dot_product_attention(q, k, v, **kwargs)
    return call


def sdpa_backends(torch, backend):
    """The SDPBackend list to pin, or None for PyTorch's own choice."""
    from torch.nn.attention import SDPBackend
    return {"cudnn": [SDPBackend.CUDNN_ATTENTION], "flash": [SDPBackend.FLASH_ATTENTION],
            "efficient": [SDPBackend.EFFICIENT_ATTENTION], "math": [SDPBackend.MATH],
            "cpu": None, "cpu_flash": [SDPBackend.FLASH_ATTENTION], "cpu_math": [SDPBackend.MATH]}[backend]


def profile_call(torch, call, device):
    """Runs call once under torch.profiler: (kernel note, peak bytes the call had allocated on the
    device at any moment, from the allocator's memory events)."""
    from torch.profiler import ProfilerActivity, profile
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
    with profile(activities=activities, profile_memory=True) as prof:
        call()
        if device == "cuda":
            torch.cuda.synchronize()
    names, kernels, mem = [], {}, []
    memory_device = "CUDA" if device == "cuda" else "CPU"
    try:
        raw = prof.profiler.kineto_results.events()
    except AttributeError:  # no raw events in this torch: names only
        return kernel_from_profile([e.name for e in prof.events()]), 0
    for e in raw:
        name, where = e.name(), str(e.device_type())
        if name == "[memory]":
            if memory_device in where:
                mem.append((e.start_ns(), e.nbytes()))
        elif device == "cuda" and "CUDA" in where:
            kernels[name] = kernels.get(name, 0) + e.duration_ns()
        else:
            names.append(name)
    return kernel_from_profile(names, list(kernels.items())), memory_peak(mem)


def run_backend(torch, case, backend, device, policy, gqa):
    """One (backend, problem) case: accuracy, kernel, memory, then the timed samples."""
    p = case.p
    q, k, v = (t.to(device) for t in (case.q, case.k, case.v))
    call = attention_call(torch, p, q, k, v, gqa)
    pinned = sdpa_backends(torch, backend)
    from contextlib import nullcontext
    from torch.nn.attention import sdpa_kernel
    out_bytes = p.b * p.hq * p.sq * p.dv * q.element_size()
    with sdpa_kernel(pinned) if pinned else nullcontext():
        if device == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            before = torch.cuda.memory_allocated()
        out = call()
        if device == "cuda":
            torch.cuda.synchronize()
            scratch = max(0, torch.cuda.max_memory_allocated() - before - out_bytes)
        acc = case.check(out)
        del out
        kernel, peak = profile_call(torch, call, device)
        if device == "cpu":
            scratch = max(0, peak - out_bytes)
        if device == "cuda":
            start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)

            def sample():
                t0 = time.perf_counter()
                start.record()
                call()
                stop.record()
                stop.synchronize()
                return (time.perf_counter() - t0) * 1e3, start.elapsed_time(stop)
        else:
            def sample():
                t0 = time.perf_counter()
                call()
                return (time.perf_counter() - t0) * 1e3, None
        cpu0, wall0 = time.process_time(), time.perf_counter()
        wall, dev, why = measure(sample, policy)
        busy = (time.process_time() - cpu0) / max(time.perf_counter() - wall0, 1e-9)
    notes = {"kernel": kernel,
             "scratch": ("peak bytes allocated by the call beyond its output, from "
                         + ("torch.cuda.max_memory_allocated" if device == "cuda" else
                            "the CPU allocator's events in torch.profiler"))}
    if p.hq != p.hkv:
        notes["gqa"] = "enable_gqa" if gqa == "native" else "repeat_interleave (outside the timed call)"
    extra = {"rows_checked": int(case.rows.size), "rows_total": p.b * p.hq * p.sq, "busy_threads": round(busy, 3)}
    return case_entries("torch_" + backend, p, wall, dev, why, acc, scratch, notes, extra), acc, kernel


def skip_reason(p, backend, math_max_scores):
    if backend in ("math", "cpu_math") and p.scores() > math_max_scores:
        return (f"the math backend materialises b*hq*sq*skv = {p.scores()} scores, above the limit of "
                f"{math_max_scores} (--math-max-scores)")
    return None


def _first_line(text):
    """The first line of an error or warning, without PyTorch's "(Triggered internally at file:line.)"."""
    text = re.sub(r"\s*\(Triggered internally at [^)]*\)", "", str(text)).strip()
    return text.splitlines()[0] if text else ""


def run(problems, backends, device, policy, out_path, gqa="native", threads=None,
        math_max_scores=MATH_MAX_SCORES, reference_flops=REFERENCE_FLOPS):
    torch = import_torch(device)
    if threads:
        torch.set_num_threads(threads)
    context = torch_context(torch, device, policy, gqa)
    entries = []
    total = len(problems) * len(backends)
    index = 0
    failures = 0
    for p in problems:
        case = None
        for backend in backends:
            index += 1
            name = f"torch_{backend}"
            reason = skip_reason(p, backend, math_max_scores)
            if reason:
                entries += skip_entries(name, p, reason)
                print(f"[{index}/{total}] {name} {p.to_string()}: skip: {reason}", file=sys.stderr)
                continue
            # PyTorch says why a backend declines in warnings; the error itself only says that
            # no kernel was available.
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    if case is None:
                        case = Case(torch, p, reference_flops)
                    case_out, acc, kernel = run_backend(torch, case, backend, device, policy, gqa)
                    failure = None
                except (RuntimeError, TypeError, ValueError, MemoryError) as e:
                    failure = e
            if failure is None:
                entries += case_out
                med = case_out[1]
                status = (f"{med['status']}, p50 {med['real_time']:.4g} ms, {med['tflops']:.3g} TFLOP/s, "
                          f"{accuracy_summary(acc)}, {kernel}, {med['stopped_because']}, "
                          f"{med['busy_threads']:.2f} threads busy")
                failures += 0 if acc["pass"] else 1
            else:
                text = _first_line(failure) or type(failure).__name__
                oom = isinstance(failure, MemoryError) or "out of memory" in text.lower()
                declined = ("No available kernel" in text or isinstance(failure, TypeError)
                            or "not supported" in text.lower())
                why = [w for w in (_first_line(w.message) for w in caught) if w]
                if why and declined:
                    text += " (" + "; ".join(dict.fromkeys(why)) + ")"
                kind = "skip" if (declined or oom) else "error"
                failures += kind == "error"
                entries += skip_entries(name, p, text, kind)
                status = f"{kind}: {text}"
                if device == "cuda":
                    torch.cuda.empty_cache()
            print(f"[{index}/{total}] {name} {p.to_string()}: {status}", file=sys.stderr)
    context["load_average_end"] = _load_average()
    context["date_end"] = utc_now()
    doc = results_document(context, entries)
    write_atomically(out_path, doc)
    print(f"wrote {out_path}", file=sys.stderr)
    return failures


def dry_run(problems):
    """What would run and the FLOPs each case is credited: checks parsing without torch."""
    for p in problems:
        print(f"{p.flops():.6e} flops  {p.visible_pairs()} pairs  {p.to_string()}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", help="suite name (harness/suites/<name>.txt) or path")
    parser.add_argument("--problem", action="append", default=[], help="a problem spec line (repeatable)")
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda", help="default cuda")
    parser.add_argument("--backend", action="append", choices=CUDA_BACKENDS + CPU_BACKENDS,
                        help=f"repeatable; default: all of {', '.join(CUDA_BACKENDS)} on cuda, cpu on cpu "
                             "(PyTorch's own choice; cpu_flash and cpu_math pin one)")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: PyTorch's)")
    parser.add_argument("--policy", default="default", help="stopping policy: default, quick, p99")
    parser.add_argument("--warmup", type=int, help="untimed calls before sampling (default: the policy's)")
    parser.add_argument("--samples", type=int, help="exactly this many timed calls (overrides the policy)")
    parser.add_argument("--gqa", choices=("native", "repeat"), default="native",
                        help="GQA through enable_gqa (native, default) or repeat_interleave of K/V")
    parser.add_argument("--math-max-scores", type=int, default=MATH_MAX_SCORES,
                        help=f"skip the math backend above this many b*hq*sq*skv scores (default {MATH_MAX_SCORES})")
    parser.add_argument("--reference-flops", type=float, default=REFERENCE_FLOPS,
                        help=f"fp64 reference budget; above it a row sample is checked (default {REFERENCE_FLOPS:g})")
    parser.add_argument("--out", default="torch_sdpa.json", help="results file (default torch_sdpa.json)")
    parser.add_argument("--dry-run", action="store_true", help="parse and print FLOPs; needs no torch")
    args = parser.parse_args(argv)
    try:
        policy = policy_with_overrides(args.policy, args.warmup, args.samples)
        if args.threads is not None and args.threads < 1:
            raise SpecError("--threads must be >= 1")
        backends = args.backend or list(CUDA_BACKENDS if args.device == "cuda" else CPU_BACKENDS[:1])
        wrong = [b for b in backends if (b in CPU_BACKENDS) != (args.device == "cpu")]
        if wrong:
            raise SpecError(f"--backend {wrong[0]} is not a {args.device} backend (cuda: "
                            f"{', '.join(CUDA_BACKENDS)}; cpu: {', '.join(CPU_BACKENDS)})")
        problems = [parse_problem(s) for s in args.problem]
        if args.suite:
            problems += load_suite(args.suite)
    except SpecError as e:
        print(f"torch_sdpa: {e}", file=sys.stderr)
        return 2
    if not problems:
        print("torch_sdpa: nothing to run: give --suite or --problem", file=sys.stderr)
        return 2
    if args.dry_run:
        dry_run(problems)
        return 0
    try:
        failures = run(problems, backends, args.device, policy, args.out, args.gqa, args.threads,
                       args.math_max_scores, args.reference_flops)
    except MissingDependency as e:
        print(f"torch_sdpa: {e}", file=sys.stderr)
        return 2
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

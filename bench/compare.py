"""Side-by-side benchmark: chalknet against NumPy's BLAS, the NumPy reference and PyTorch.

    python bench/compare.py --threads 1                 # every suite
    python bench/compare.py --suite conv --threads 2    # only bench/suites/conv.py
    python bench/compare.py --suite gemm --json out.json --repeat 9 --budget 5

Every module in bench/suites/ that defines ``workloads(threads) -> list[Workload]`` is a suite
(found by name, so new suites need no change here).  For each workload the engines run on the
same inputs in this one process, alternating round by round (the order rotates each round), so
a busy machine slows them alike.  The table gives each engine's median time, the spread of its
rounds ((max - min) / median, a noise gauge), chalknet's GFLOP/s where the workload states its
flops, and the speed-up of chalknet over every other engine (their time / chalknet's time:
above 1 means chalknet is faster).  Every engine gets the same thread count: chalknet through
set_num_threads, NumPy's BLAS through threadpoolctl, PyTorch through torch.set_num_threads;
the header prints what each one reports.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import pkgutil
import platform
import statistics
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

import chalknet  # noqa: E402

# A timed sample repeats a fast call until it lasts about this long (timer resolution, noise).
MIN_SAMPLE_SECONDS = 0.002


def suite_names() -> list[str]:
    """Modules of bench/suites/ that define workloads(), in name order."""
    import suites

    names = []
    for info in pkgutil.iter_modules(suites.__path__):
        module = importlib.import_module(f"suites.{info.name}")
        if callable(getattr(module, "workloads", None)):
            names.append(info.name)
    return sorted(names)


def set_threads(threads: int) -> dict:
    """Give every engine `threads` threads; return what each one reports."""
    chalknet.set_num_threads(threads)
    report = {"chalknet": chalknet.get_num_threads()}
    try:
        from threadpoolctl import threadpool_info, threadpool_limits

        threadpool_limits(threads)  # held for the rest of the process
        report["numpy_blas"] = [f"{p['internal_api']}={p['num_threads']}"
                                for p in threadpool_info() if p["user_api"] == "blas"]
    except ImportError:
        report["numpy_blas"] = "threadpoolctl not installed: BLAS threads not set"
    try:
        import torch

        torch.set_num_threads(threads)
        report["torch"] = torch.get_num_threads()
    except ImportError:
        report["torch"] = "not installed"
    return report


# --clock wall: elapsed time (what a user waits).  --clock cpu: CPU time of this process, all
# threads together; on a machine shared with other work it does not count the time the process
# waits for a core, so single-thread comparisons stay fair under load (with several threads it
# measures total work, not speed).
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
clock = CLOCKS["wall"]


def calibrate(fn) -> int:
    """Calls per timed sample, so that one sample lasts at least MIN_SAMPLE_SECONDS."""
    start = time.perf_counter()
    fn()  # also the warm-up call
    once = time.perf_counter() - start
    return max(1, math.ceil(MIN_SAMPLE_SECONDS / max(once, 1e-9)))


def time_workload(workload, repeat: int, budget: float) -> dict:
    """Alternate the engines for `repeat` rounds or until `budget` seconds have passed (at
    least one round); per engine, the seconds per call of every round."""
    names = list(workload.engines)
    calls = {name: calibrate(workload.engines[name]) for name in names}
    times = {name: [] for name in names}
    start = time.perf_counter()
    for round_index in range(repeat):
        if round_index > 0 and time.perf_counter() - start > budget:
            break
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            fn, count = workload.engines[name], calls[name]
            t0 = clock()
            for _ in range(count):
                fn()
            times[name].append((clock() - t0) / count)
    return times


def summarize(workload, times: dict) -> dict:
    medians = {name: statistics.median(values) for name, values in times.items()}
    row = {
        "group": workload.group,
        "flops": workload.flops,
        "engines": {name: {"median_s": medians[name], "rounds": len(times[name]),
                           "spread": (max(times[name]) - min(times[name])) / medians[name],
                           "times_s": times[name]}
                    for name in times},
    }
    if "chalknet" in medians:
        ours = medians["chalknet"]
        row["speedup"] = {name: medians[name] / ours for name in medians if name != "chalknet"}
        if workload.flops:
            row["chalknet_gflops"] = workload.flops / ours / 1e9
    return row


def format_row(row: dict, others: list[str]) -> str:
    engines = row["engines"]
    ours = engines.get("chalknet")
    cells = [f"{row['group']:<26}"]
    if ours:
        cells.append(f"{ours['median_s'] * 1e3:10.3f} ms ±{ours['spread'] * 100:3.0f}%")
    else:
        cells.append(f"{'-':>17}")
    gflops = row.get("chalknet_gflops")
    cells.append(f"{gflops:7.1f}" if gflops else f"{'':7}")
    for name in others:
        if name not in engines:
            cells.append(f"{'-':>27}")
            continue
        stats = engines[name]
        ratio = row.get("speedup", {}).get(name)
        ratio_text = f"{ratio:6.2f}x" if ratio is not None else "      "
        cells.append(f"{stats['median_s'] * 1e3:10.3f} ms ±{stats['spread'] * 100:3.0f}% "
                     f"{ratio_text}")
    return " ".join(cells)


def print_table(rows: list[dict]) -> None:
    others = []
    for row in rows:
        for name in row["engines"]:
            if name != "chalknet" and name not in others:
                others.append(name)
    header = [f"{'workload':<26}", f"{'chalknet (median)':>17}", f"{'GFLOP/s':>7}"]
    header += [f"{name + ' (median, speed-up)':>27}" for name in others]
    print(" ".join(header))
    for row in rows:
        print(format_row(row, others))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", action="append", default=None,
                        help="suite(s) to run, by module name in bench/suites (default: all); "
                             "repeat or comma-separate")
    parser.add_argument("--filter", default="", help="only workloads whose name contains this")
    parser.add_argument("--threads", type=int, default=chalknet.get_num_threads(),
                        help="threads for every engine (default: chalknet's current count)")
    parser.add_argument("--repeat", type=int, default=7,
                        help="rounds per workload (default 7); each round times every engine")
    parser.add_argument("--budget", type=float, default=4.0,
                        help="seconds per workload after which no new round starts (default 4)")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="wall (default) or cpu: process CPU time, fair under load for "
                             "--threads 1")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    global clock
    clock = CLOCKS[args.clock]
    if args.threads < 1 or args.repeat < 1:
        parser.error("--threads and --repeat must be >= 1")

    available = suite_names()
    wanted = available if not args.suite else [s for item in args.suite for s in item.split(",")]
    unknown = sorted(set(wanted) - set(available))
    if unknown:
        parser.error(f"unknown suite(s) {unknown}; available: {available}")

    thread_report = set_threads(args.threads)
    header = {
        "chalknet": chalknet.__version__, "build_info": chalknet.build_info(),
        "python": platform.python_version(), "machine": platform.machine(),
        "threads": thread_report, "repeat": args.repeat, "budget_s": args.budget,
        "openmp_env": {name: os.environ.get(name) for name in
                       ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS")},
        "clock": args.clock, "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg")
        else None,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    print(f"chalknet {header['chalknet']} simd={header['build_info']['simd']} | threads: "
          + ", ".join(f"{k}={v}" for k, v in thread_report.items()))
    print(f"rounds: up to {args.repeat} per workload, {args.budget:g} s budget, {args.clock} "
          f"clock, load average {header['load_average']}, OpenMP env {header['openmp_env']}; "
          "speed-up = other's median / chalknet's median")

    rows = []
    for name in wanted:
        module = importlib.import_module(f"suites.{name}")
        workloads = [w for w in module.workloads(args.threads) if args.filter in w.group]
        set_threads(args.threads)  # a suite may have touched a library's setting
        print(f"\n[{name}]")
        suite_rows = []
        for workload in workloads:
            row = summarize(workload, time_workload(workload, args.repeat, args.budget))
            row["suite"] = name
            suite_rows.append(row)
        print_table(suite_rows)
        rows += suite_rows
    if args.json:
        args.json.write_text(json.dumps({"header": header, "results": rows}, indent=1))
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

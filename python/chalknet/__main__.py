"""Command line: ``python -m chalknet --help``."""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def _median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def cmd_info(args: argparse.Namespace) -> int:
    """Print build_info, check matmul against NumPy, and time both on one square size."""
    import chalknet
    from chalknet import ops, reference

    for key, value in chalknet.build_info().items():
        print(f"{key:>14}: {value}")
    rng = np.random.default_rng(0)
    n = args.n
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    ours = ops.matmul(a, b)
    error = float(np.max(np.abs(ours - reference.matmul(a.astype(np.float64), b))))
    ok = error <= 4 * n * np.finfo(np.float32).eps * float(np.max(np.abs(a)) * np.max(np.abs(b)))
    print(f"matmul {n}x{n}x{n} float32: max |chalknet - float64 reference| = {error:.2e}"
          f" ({'ok' if ok else 'TOO LARGE'})")
    ours_s = _median_seconds(lambda: ops.matmul(a, b), args.repeats)
    numpy_s = _median_seconds(lambda: a @ b, args.repeats)
    gflops = 2 * n**3 / ours_s / 1e9
    print(f"speed: chalknet {gflops:.1f} GFLOP/s, {numpy_s / ours_s:.2f}x NumPy's BLAS"
          f" (median of {args.repeats}, {chalknet.get_num_threads()} threads)")
    return 0 if ok else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m chalknet", description=__doc__)
    commands = parser.add_subparsers(dest="command")
    info = commands.add_parser("info",
                               help="build information and a matmul check with a speed line")
    info.add_argument("--n", type=int, default=512, help="matrix size (default 512)")
    info.add_argument("--repeats", type=int, default=10, help="timed repeats (default 10)")
    info.set_defaults(func=cmd_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["info", *argv]  # no command: the info check (`python -m chalknet --n 1024`)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

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


def _demo_model(kind: str):
    """The Keras "simple MNIST convnet" (keras.io/examples/vision/mnist_convnet), or an MLP."""
    import chalknet
    from chalknet import layers

    if kind == "dense":
        return chalknet.Sequential([
            chalknet.Input(shape=(28, 28, 1)),
            layers.Flatten(),
            layers.Dense(128, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ], name="mnist_mlp")
    return chalknet.Sequential([
        chalknet.Input(shape=(28, 28, 1)),
        layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(10, activation="softmax"),
    ], name="mnist_convnet")


def cmd_demo(args: argparse.Namespace) -> int:
    """Train on the bundled MNIST digits (offline), print test accuracy, save the curves."""
    import chalknet

    if args.threads:
        chalknet.set_num_threads(args.threads)
    chalknet.utils.set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = chalknet.datasets.mnist_mini.load_data()
    # Scale the grey levels to [0, 1] and add the channel axis: (n, 28, 28, 1).
    x_train = (x_train.astype("float32") / 255)[..., None]
    x_test = (x_test.astype("float32") / 255)[..., None]
    print(f"chalknet {chalknet.__version__}: {len(x_train):,} training and {len(x_test):,} test "
          f"digits (MNIST, bundled), {chalknet.get_num_threads()} thread(s)")
    model = _demo_model(args.model)
    model.summary()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    start = time.perf_counter()
    history = model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs,
                        validation_split=0.1, verbose=1)
    seconds = time.perf_counter() - start
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=256, verbose=0)
    print(f"test accuracy: {accuracy:.4f} (test loss {loss:.4f}) after "
          f"{len(history.epoch)} epoch(s), {seconds:.0f} s of training")
    if args.plot:
        try:
            chalknet.utils.plot_history(history, path=args.plot)
            print(f"training curves written to {args.plot}")
        except ImportError:
            print("matplotlib is not installed: no training curves "
                  "(pip install matplotlib to get them)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m chalknet", description=__doc__)
    commands = parser.add_subparsers(dest="command")
    info = commands.add_parser("info",
                               help="build information and a matmul check with a speed line")
    info.add_argument("--n", type=int, default=512, help="matrix size (default 512)")
    info.add_argument("--repeats", type=int, default=10, help="timed repeats (default 10)")
    info.set_defaults(func=cmd_info)
    demo = commands.add_parser(
        "demo", help="train the Keras MNIST convnet on the bundled digits (offline)",
        description="Train the Keras 'simple MNIST convnet' (conv32-pool-conv64-pool-dropout-"
                    "dense10, Adam, batch 128) on the 8,000 bundled MNIST digits, report the "
                    "accuracy on the 2,000 held-out digits and save the training curves.")
    demo.add_argument("--epochs", type=int, default=8, help="passes over the data (default 8)")
    demo.add_argument("--batch-size", type=int, default=128, help="default 128")
    demo.add_argument("--model", choices=["convnet", "dense"], default="convnet",
                      help="convnet (default) or dense: a 784-128-10 MLP, faster")
    demo.add_argument("--plot", default="chalknet-demo.png", metavar="PATH",
                      help="where to write the training curves (PNG; needs matplotlib); "
                           "'' to skip (default chalknet-demo.png)")
    demo.add_argument("--threads", type=int, default=0, help="threads (default: all cores)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.set_defaults(func=cmd_demo)
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

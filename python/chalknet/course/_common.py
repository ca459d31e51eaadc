"""What every chapter shares: the output folder, optional pictures, printed lessons."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def output_folder(output_dir) -> Path:
    """The folder a chapter writes its pictures into (created when missing)."""
    folder = Path(output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def matplotlib_figure_class():
    """matplotlib's ``Figure`` class, or None when matplotlib (the ``plot`` extra) is missing.

    Chapters draw on ``Figure`` objects and save them with ``savefig``, never through pyplot:
    no window opens, no global backend is changed, and nothing is left open afterwards.
    ``CHALKNET_NO_PLOTS=1`` skips the pictures even when matplotlib is installed.
    """
    if os.environ.get("CHALKNET_NO_PLOTS"):
        return None
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return None
    return Figure


class Pictures:
    """Collects a chapter's PNG files; says once why they were skipped when they are."""

    def __init__(self, output_dir, chapter: str):
        self.folder = output_folder(output_dir)
        self.chapter = chapter
        self.Figure = matplotlib_figure_class()
        self.written: list[str] = []
        if self.Figure is None:
            print(f"[{chapter}] matplotlib is not installed (pip install 'chalknet[plot]') or "
                  "CHALKNET_NO_PLOTS is set: pictures skipped, the numbers are computed anyway.")

    @property
    def enabled(self) -> bool:
        return self.Figure is not None

    def new(self, columns: int = 1, rows: int = 1, width: float = 5.0, height: float = 4.0):
        """A new figure and its grid of axes (a single Axes when 1x1), or (None, None)."""
        if self.Figure is None:
            return None, None
        figure = self.Figure(figsize=(width * columns, height * rows), layout="constrained")
        axes = figure.subplots(rows, columns, squeeze=True)
        return figure, axes

    def save(self, figure, name: str) -> None:
        if figure is None:
            return
        path = self.folder / name
        figure.savefig(path, dpi=110)
        self.written.append(str(path))
        print(f"[{self.chapter}] wrote {path}")


def say(chapter: str, text: str) -> None:
    """Print a lesson line, prefixed by the chapter name."""
    for line in text.strip("\n").splitlines():
        print(f"[{chapter}] {line}")


@contextlib.contextmanager
def one_thread():
    """Run chalknet's kernels on one thread inside the block, then restore the setting.

    The course's models are tiny (a few parameters, a few hundred samples): splitting such a
    matrix product across threads costs more in synchronisation than it saves, and on a busy
    machine far more.
    """
    from .. import get_num_threads, set_num_threads

    previous = get_num_threads()
    set_num_threads(1)
    try:
        yield
    finally:
        set_num_threads(previous)

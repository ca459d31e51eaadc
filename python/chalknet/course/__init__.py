"""The course, chapter by chapter: code that computes, draws and explains each lesson.

Each chapter is a module with ``NAME``, ``NUMBER``, ``TITLE`` and
``run(output_dir, quick=False) -> dict``: it computes the lesson, writes its pictures as PNG
files into ``output_dir`` (when matplotlib, the ``plot`` extra, is installed), prints what a
student should notice, and returns the numbers behind its claims (the tests check them).

    from chalknet import course
    results = course.CHAPTERS["bias_variance"].run("out/bias_variance")

From the command line: ``python -m chalknet demo --list`` and
``python -m chalknet demo bias_variance --out DIR [--quick]``, or the scripts in ``examples/``.
"""

from __future__ import annotations

import argparse
import time

from . import backprop, bias_variance, classification, gradient_descent

# name -> chapter module, in course order.
CHAPTERS = {module.NAME: module for module in
            sorted([bias_variance, gradient_descent, classification, backprop],
                   key=lambda module: module.NUMBER)}

DEFAULT_OUTPUT = "chalknet-course"


def chapter(name_or_number):
    """A chapter module by name ("bias_variance") or number (1 or "1")."""
    key = str(name_or_number)
    if key in CHAPTERS:
        return CHAPTERS[key]
    for module in CHAPTERS.values():
        if key == str(module.NUMBER):
            return module
    raise ValueError(f"unknown chapter {name_or_number!r}; known: "
                     f"{', '.join(f'{m.NUMBER} {n}' for n, m in CHAPTERS.items())}")


def handles(argv) -> bool:
    """True when the arguments after ``demo`` ask for the course: ``--list``, or a chapter's
    name or number first. (``python -m chalknet demo`` alone is the MNIST demo.)"""
    argv = list(argv)
    if not argv:
        return False
    if argv[0] == "--list":
        return True
    try:
        chapter(argv[0])
    except ValueError:
        return False
    return True


def chapter_list() -> str:
    """One line per chapter: number, name and title."""
    width = max(len(name) for name in CHAPTERS)
    return "\n".join(f"{module.NUMBER:2d}  {name:<{width}}  {module.TITLE}"
                     for name, module in CHAPTERS.items())


def build_parser(prog: str = "python -m chalknet demo", chapter_name: str | None = None
                 ) -> argparse.ArgumentParser:
    """The demo's arguments; with ``chapter_name`` (a script for one chapter) no chapter
    argument and no --list."""
    description = "Run a chapter of the course: compute, print what to notice, write the pictures."
    if chapter_name is not None:
        description = f"Chapter {chapter(chapter_name).NUMBER}: {chapter(chapter_name).TITLE}."
    parser = argparse.ArgumentParser(prog=prog, description=description)
    if chapter_name is None:
        parser.add_argument("chapter", nargs="?", help="chapter name or number (see --list)")
        parser.add_argument("--list", action="store_true", help="list the chapters and exit")
    else:
        parser.set_defaults(chapter=chapter_name, list=False)
    parser.add_argument("--out", default=None, metavar="DIR",
                        help=f"folder for the pictures (default ./{DEFAULT_OUTPUT}/<chapter>)")
    parser.add_argument("--quick", action="store_true",
                        help="small settings: same lesson in seconds, noisier numbers")
    return parser


def main(argv: list[str] | None = None, prog: str = "python -m chalknet demo",
         chapter_name: str | None = None) -> int:
    """``demo --list`` / ``demo <chapter> [--out DIR] [--quick]``; returns an exit code.

    ``argv`` is what follows ``demo`` on the command line, e.g. ``["bias_variance", "--quick"]``
    (None: ``sys.argv[1:]``). ``chapter_name`` fixes the chapter (the scripts in examples/).
    """
    parser = build_parser(prog, chapter_name)
    args = parser.parse_args(argv)
    if args.list or args.chapter is None:
        print(chapter_list())
        if chapter_name is None and prog == "python -m chalknet demo":
            print(f"\nRun one: {prog} <name or number> [--out DIR] [--quick]. Without a chapter, "
                  f"{prog} trains the MNIST convnet.")
        return 0
    try:
        module = chapter(args.chapter)
    except ValueError as error:
        parser.error(str(error))
    output = args.out if args.out is not None else f"{DEFAULT_OUTPUT}/{module.NAME}"
    print(f"Chapter {module.NUMBER}: {module.TITLE}\n(pictures go to {output})")
    start = time.perf_counter()
    module.run(output, quick=args.quick)
    print(f"[{module.NAME}] done in {time.perf_counter() - start:.1f} s")
    return 0


__all__ = ["CHAPTERS", "chapter", "chapter_list", "handles", "main"]

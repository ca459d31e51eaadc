"""A character-level LSTM language model: ``python examples/char_lstm.py [CORPUS] [--out DIR]
[--quick] [--units N] [--rounds N]``.

CORPUS defaults to $CHALKNET_DATA/tinyshakespeare/input.txt, else
../shared/data/tinyshakespeare/input.txt next to this repository. The code is in
chalknet/course/sequences_language_model.py (lesson 2 of the chapter "sequences").
"""

import argparse
import os
import sys
from pathlib import Path

from chalknet.course import sequences_language_model


def default_corpus() -> Path:
    if os.environ.get("CHALKNET_DATA"):
        return Path(os.environ["CHALKNET_DATA"]) / "tinyshakespeare" / "input.txt"
    repository = Path(__file__).resolve().parents[1]
    return repository.parent / "shared" / "data" / "tinyshakespeare" / "input.txt"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python examples/char_lstm.py",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", nargs="?", default=None,
                        help=f"a UTF-8 text file (default {default_corpus()})")
    parser.add_argument("--out", default="chalknet-course/sequences", metavar="DIR")
    parser.add_argument("--quick", action="store_true", help="a smaller model, fewer steps")
    parser.add_argument("--units", type=int, default=None, help="LSTM units (default 128)")
    parser.add_argument("--rounds", type=int, default=None,
                        help="rounds of 40 batches (default 20)")
    args = parser.parse_args(argv)
    corpus = Path(args.corpus) if args.corpus else default_corpus()
    if not corpus.is_file():
        parser.error(f"no corpus at {corpus}: give the path of a text file, e.g. "
                     "tinyshakespeare's input.txt")
    sequences_language_model.run(args.out, quick=args.quick, corpus_path=corpus,
                                 units=args.units, rounds=args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Course chapter: ``python examples/sequences.py [--out DIR] [--quick]``.

The same as ``python -m chalknet demo sequences``; the code is in
chalknet/course/sequences*.py. The character language model alone, on a corpus you name:
``python examples/char_lstm.py [PATH]``.
"""

import sys

from chalknet.course import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], prog="python examples/sequences.py",
                  chapter_name="sequences"))

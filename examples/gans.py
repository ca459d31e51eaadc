"""Course chapter: ``python examples/gans.py [--out DIR] [--quick]``.

The same as ``python -m chalknet demo gans``; the code is in
chalknet/course/gans.py.
"""

import sys

from chalknet.course import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], prog="python examples/gans.py",
                  chapter_name="gans"))

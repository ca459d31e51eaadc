"""Course chapter: ``python examples/classification.py [--out DIR] [--quick]``.

The same as ``python -m chalknet demo classification``; the code is in
chalknet/course/classification.py.
"""

import sys

from chalknet.course import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], prog="python examples/classification.py",
                  chapter_name="classification"))

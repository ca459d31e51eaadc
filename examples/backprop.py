"""Course chapter: ``python examples/backprop.py [--out DIR] [--quick]``.

The same as ``python -m chalknet demo backprop``; the code is in
chalknet/course/backprop.py.
"""

import sys

from chalknet.course import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], prog="python examples/backprop.py",
                  chapter_name="backprop"))

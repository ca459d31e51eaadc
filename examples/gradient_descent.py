"""Course chapter: ``python examples/gradient_descent.py [--out DIR] [--quick]``.

The same as ``python -m chalknet demo gradient_descent``; the code is in
chalknet/course/gradient_descent.py.
"""

import sys

from chalknet.course import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], prog="python examples/gradient_descent.py",
                  chapter_name="gradient_descent"))

"""Course chapter: ``python examples/bias_variance.py [--out DIR] [--quick]``.

The same as ``python -m chalknet demo bias_variance``; the code is in
chalknet/course/bias_variance.py.
"""

import sys

from chalknet.course import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], prog="python examples/bias_variance.py",
                  chapter_name="bias_variance"))

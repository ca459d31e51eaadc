"""Course chapter: ``python examples/deep_networks.py [--out DIR] [--quick]``.

The same as ``python -m chalknet demo deep_networks``; the code is in
chalknet/course/deep_networks.py.
"""

import sys

from chalknet.course import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], prog="python examples/deep_networks.py",
                  chapter_name="deep_networks"))

"""Course chapter: ``python examples/reinforcement.py [--out DIR] [--quick]``.

The same as ``python -m chalknet demo reinforcement``; the code is in
chalknet/course/reinforcement.py (the agent: chalknet/rl.py). CartPole needs gymnasium
(``pip install "chalknet[rl]"``).
"""

import sys

from chalknet.course import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], prog="python examples/reinforcement.py",
                  chapter_name="reinforcement"))

"""The textbook versions of chalknet's ops, in plain NumPy, written to be read.

Every function here has a twin with the same signature in :mod:`chalknet.ops` that runs the
compiled kernel; the tests check that the two agree. Read these first.
"""

from .matmul import matmul

__all__ = ["matmul"]

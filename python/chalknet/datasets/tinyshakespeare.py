"""Tiny Shakespeare: 1,115,394 characters of Shakespeare's plays, the classic corpus for
character-level language models (collected by Andrej Karpathy for char-rnn; public-domain text).

``load_data()`` returns the whole text as one string. The file is read from
``<cache>/tinyshakespeare/input.txt`` (``$CHALKNET_DATA``, else ``~/.chalknet/datasets``) and
downloaded there the first time, checked against its SHA-256 checksum.
"""

from __future__ import annotations

from ._files import fetch

MIRRORS = ("https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/",)
CHECKSUMS = {"input.txt": {"86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"}}


def load_data() -> str:
    """The corpus as one string (UTF-8)."""
    path = fetch("tinyshakespeare", "input.txt", MIRRORS, CHECKSUMS["input.txt"])
    return path.read_text(encoding="utf-8")

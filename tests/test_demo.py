"""The command line: ``python -m chalknet demo`` and ``--help``."""

from __future__ import annotations

import pytest

import chalknet
from chalknet.__main__ import main


@pytest.fixture(autouse=True)
def restore_threads():
    threads = chalknet.get_num_threads()
    yield
    chalknet.set_num_threads(threads)


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "demo" in out and "info" in out


def test_demo_dense_one_epoch(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    plot = tmp_path / "curves.png"
    assert main(["demo", "--model", "dense", "--epochs", "1", "--threads", "1",
                 "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert "8,000 training and 2,000 test digits" in out
    assert "Epoch 1/1" in out and "test accuracy: 0." in out
    assert f"training curves written to {plot}" in out
    assert plot.read_bytes()[:4] == b"\x89PNG"

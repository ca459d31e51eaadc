"""The course's chapter registry, the ``demo`` command function and the example scripts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chalknet import course

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_registry_lists_the_chapters_in_course_order():
    assert list(course.CHAPTERS) == ["bias_variance", "gradient_descent", "classification",
                                     "backprop"]
    for number, (name, module) in enumerate(course.CHAPTERS.items(), start=1):
        assert module.NAME == name
        assert module.NUMBER == number
        assert module.TITLE and "\n" not in module.TITLE
        assert callable(module.run)


def test_chapters_are_found_by_name_or_number():
    assert course.chapter("classification") is course.CHAPTERS["classification"]
    assert course.chapter(2) is course.CHAPTERS["gradient_descent"]
    assert course.chapter("4") is course.CHAPTERS["backprop"]
    with pytest.raises(ValueError, match=r"unknown chapter 'nope'.*bias_variance"):
        course.chapter("nope")


def test_main_lists_the_chapters(capsys):
    assert course.main(["--list"]) == 0
    out = capsys.readouterr().out
    for name, module in course.CHAPTERS.items():
        assert f"{module.NUMBER:2d}  {name}" in out


def test_main_refuses_an_unknown_chapter(capsys):
    with pytest.raises(SystemExit) as exit_info:
        course.main(["no_such_chapter"])
    assert exit_info.value.code == 2
    assert "unknown chapter" in capsys.readouterr().err


def test_main_runs_a_chapter_into_the_given_folder(tmp_path, capsys):
    out = tmp_path / "chapter4"
    assert course.main(["4", "--out", str(out), "--quick"]) == 0
    printed = capsys.readouterr().out
    assert "Chapter 4" in printed and str(out) in printed
    assert out.is_dir()


def test_pictures_are_skipped_with_a_message_when_plots_are_off(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CHALKNET_NO_PLOTS", "1")
    results = course.CHAPTERS["bias_variance"].run(tmp_path, quick=True)
    assert results["pictures"] == []
    assert "pictures skipped" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", list(course.CHAPTERS))
def test_every_chapter_runs_without_matplotlib(name, tmp_path, monkeypatch, capsys):
    # A None entry in sys.modules makes "import matplotlib..." raise ImportError, as when the
    # plot extra is not installed.
    for module in ("matplotlib", "matplotlib.figure"):
        monkeypatch.setitem(sys.modules, module, None)
    results = course.CHAPTERS[name].run(tmp_path, quick=True)
    assert results["pictures"] == []
    assert "pip install 'chalknet[plot]'" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []


def test_example_script_is_a_thin_wrapper(tmp_path):
    script = EXAMPLES / "backprop.py"
    done = subprocess.run([sys.executable, str(script), "--out", str(tmp_path), "--quick"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "gradient_check" in done.stdout
    assert {p.stem for p in EXAMPLES.glob("*.py")} >= set(course.CHAPTERS)


def test_handles_tells_the_course_from_the_mnist_demo():
    assert course.handles(["--list"])
    assert course.handles(["bias_variance", "--quick"])
    assert course.handles(["2"])
    assert not course.handles([])
    assert not course.handles(["--epochs", "3"])
    assert not course.handles(["--model", "dense"])


MAIN = Path(__file__).resolve().parents[1] / "python" / "chalknet" / "__main__.py"


@pytest.mark.skipif("course.main" not in MAIN.read_text(),
                    reason="python -m chalknet demo does not route to chalknet.course.main yet "
                           "(__main__.py belongs to the train branch; the integrator wires it)")
def test_python_m_chalknet_demo_lists_the_chapters():
    done = subprocess.run([sys.executable, "-m", "chalknet", "demo", "--list"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for name in course.CHAPTERS:
        assert name in done.stdout

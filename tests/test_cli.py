"""The minigrad command: in-process through main(), and as a real process."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from minigrad import demos
from minigrad.cli import main


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exit_:  # argparse exits on bad options and --help
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_list_names_every_demo(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "demo", "--list")
    assert code == 0
    for name in ("planar", "moons", "spirals", "xor", "regression"):
        assert f"  {name} " in out
    assert "  digits " in out  # scikit-learn is a test dependency
    assert "defaults: --hidden 4 --lr 1.2 --epochs 10000" in out


def test_list_without_scikit_learn_says_how_to_get_digits(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(demos.datasets, "sklearn_available", lambda: False)
    code, out, _ = run_main(capsys, "demo", "--list")
    assert code == 0 and "  digits " not in out
    assert '(digits needs scikit-learn: pip install "minigrad[datasets]"' in out
    code, _, err = run_main(capsys, "demo", "digits")
    assert code == 1
    assert err.strip().startswith("minigrad demo: error: the digits demo needs scikit-learn")


def test_planar_demo_trains_compares_and_draws(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    imread = pytest.importorskip("matplotlib.image").imread
    code, out, err = run_main(capsys, "demo", "--epochs", "300", "--quiet", "--out",
                              str(tmp_path))
    assert code == 0, err
    assert "planar: the notes' 2-class flower" in out
    assert "net: 2-4-1 with Tanh, SGD lr=1.2, 300 epochs, full batch" in out
    line = next(x for x in out.splitlines() if "accuracy on the training set" in x)
    net, baseline = (float(v) for v in re.findall(r"(\d+\.\d)%", line))
    assert net > 80 and baseline < 60  # the hidden layer is what separates the petals
    for name in ("planar_boundary.png", "planar_loss.png"):
        image = imread(tmp_path / name)
        assert image.shape[:2] in ((500, 600), (350, 800))
        assert len(np.unique(image.reshape(-1, image.shape[-1]), axis=0)) > 20
        assert str(tmp_path / name) in out


def test_sweep_prints_one_row_per_size(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run_main(capsys, "demo", "xor", "--sweep", "--epochs", "20", "--quiet",
                            "--out", str(tmp_path))
    assert code == 0
    rows = [x for x in out.splitlines() if "hidden unit" in x]
    assert [int(x.split()[0]) for x in rows] == list(demos.SWEEP_SIZES)
    assert rows[0].split()[1:4] == ["hidden", "unit", "accuracy"]


def test_regression_demo_reports_mean_squared_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run_main(capsys, "demo", "regression", "--epochs", "200", "--hidden", "8",
                            "--lr", "0.05", "--seed", "3", "--quiet", "--out", str(tmp_path))
    assert code == 0
    assert "mean squared error on the training set: net" in out and "linear regression" in out
    assert (tmp_path / "regression_fit.png").stat().st_size > 1000


def test_digits_demo_scores_held_out_images(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run_main(capsys, "demo", "digits", "--epochs", "2", "--quiet", "--out",
                            str(tmp_path))
    assert code == 0
    assert "accuracy on the test set (20% held out)" in out
    assert (tmp_path / "digits_loss.png").exists()
    assert not (tmp_path / "digits_boundary.png").exists()


def test_explain_flag_prints_the_equations_first(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run_main(capsys, "demo", "spirals", "--explain", "--epochs", "5", "--quiet",
                            "--out", str(tmp_path))
    assert code == 0
    assert out.index("Z1 = W1 X + b1") < out.index("spirals: three spiral arms")
    assert "dZ2 = A2 - Y" in out and "Batch: m = 300 examples" in out


def test_without_matplotlib_it_trains_and_says_how_to_get_plots(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    code, out, _ = run_main(capsys, "demo", "moons", "--epochs", "20", "--quiet", "--out",
                            str(tmp_path / "pics"))
    assert code == 0
    assert "accuracy on the training set" in out
    assert 'plots skipped: matplotlib is not installed. For the pictures: pip install ' \
           '"minigrad[plot]"' in out
    assert not (tmp_path / "pics").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["demo", "--epochs", "0"], "argument --epochs: expected a positive integer, got '0'"),
        (["demo", "--hidden", "x"], "argument --hidden: expected a positive integer, got 'x'"),
        (["demo", "--lr", "-1"], "argument --lr: expected a positive number, got '-1'"),
        (["demo", "--lr", "nan"], "argument --lr: expected a positive number, got 'nan'"),
        (["demo", "--seed", "-2"], "argument --seed: expected a non-negative integer"),
        (["demo", "--bogus"], "unrecognized arguments: --bogus"),
        (["train"], "invalid choice: 'train'"),
    ],
)
def test_bad_options_give_one_error_line_and_status_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = run_main(capsys, *argv)
    assert code == 2
    errors = [x for x in err.splitlines() if "error:" in x]
    assert len(errors) == 1 and message in errors[0]
    # a demo option's error shows the demo's usage, not the top level's
    assert err.startswith("usage: minigrad demo" if argv[0] == "demo" else "usage: minigrad [-h]")


def test_unknown_top_level_option_shows_the_top_level_usage(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run_main(capsys, "--bogus")
    assert code == 2
    assert err.startswith("usage: minigrad [-h]")
    assert err.splitlines()[-1] == "minigrad: error: unrecognized arguments: --bogus"


def test_unknown_demo_is_a_usage_error_with_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "demo", "flower")
    assert code == 2 and out == ""
    assert err.startswith("usage: minigrad demo")
    assert err.splitlines()[-1] == (
        "minigrad demo: error: no demo named 'flower'; choose from planar, moons, "
        "spirals, xor, regression, digits")


@pytest.mark.parametrize("where", ["file", "below a file"])
def test_an_out_folder_that_cannot_be_written_fails_before_training(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    where: str,
) -> None:
    trained: list[object] = []
    monkeypatch.setattr(demos, "run", lambda *args, **kwargs: trained.append(args))
    (tmp_path / "notes.txt").write_text("not a folder")
    out = tmp_path / "notes.txt" if where == "file" else tmp_path / "notes.txt" / "pictures"
    code, stdout, err = run_main(capsys, "demo", "--out", str(out))
    assert code == 2 and stdout == "" and trained == []
    reason = ("it is a file, not a folder" if where == "file"
              else f"{str(tmp_path / 'notes.txt')!r} is a file, not a folder")
    assert err.splitlines()[-1] == (
        f"minigrad demo: error: argument --out: cannot write the pictures to {str(out)!r}: "
        f"{reason}")


def test_an_out_folder_that_does_not_exist_yet_is_fine(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    trained: list[object] = []
    monkeypatch.setattr(demos, "run", lambda *args, **kwargs: trained.append(kwargs["out"]))
    out = tmp_path / "new" / "deeper"
    code, _, _ = run_main(capsys, "demo", "--out", str(out))
    assert code == 0 and trained == [out.resolve()]
    assert not out.exists()  # checked, not created: the demo makes it when it draws


def test_a_diverging_run_reports_without_a_traceback(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run_main(capsys, "demo", "regression", "--lr", "100", "--epochs", "200",
                            "--quiet", "--out", str(tmp_path))
    assert code == 1
    assert err.startswith("minigrad demo: error: ") and "lower learning rate" in err
    assert "Traceback" not in err


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys)
    assert code == 0 and "minigrad demo" in out and "COMMAND" in out


def test_help_lists_every_demo_option(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "demo", "--help")
    assert code == 0
    for option in ("--epochs", "--hidden", "--lr", "--seed", "--out", "--sweep", "--list"):
        assert option in out


def test_python_dash_m_runs_the_demo_in_a_real_process(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "minigrad", "demo", "planar", "--epochs", "30", "--out",
         str(tmp_path / "out")],
        capture_output=True, text=True, cwd=tmp_path, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "vs  logistic regression 47.0%" in done.stdout
    # in a pipe the progress is a few plain lines: the first epoch, every sixth, the last
    epochs = [line.split()[1] for line in done.stdout.splitlines() if line.startswith("Epoch ")]
    assert epochs == ["1/30", "6/30", "12/30", "18/30", "24/30", "30/30"]
    assert (tmp_path / "out" / "planar_boundary.png").exists()


def test_bad_option_in_a_real_process_has_no_traceback(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "minigrad", "demo", "--epochs", "-5"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1] == (
        "minigrad demo: error: argument --epochs: expected a positive integer, got '-5'")


def test_console_script_when_installed(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("minigrad")
    if not script.exists():
        pytest.skip("the minigrad console script is not installed in this environment")
    done = subprocess.run([str(script), "demo", "--list"], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0 and "planar" in done.stdout

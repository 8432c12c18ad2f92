"""Progress output: silent with verbose=False, plain lines in logs, one updating line on a TTY."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest

import minigrad as mg
from minigrad.progress import ProgressLogger


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2, 40))
    return X, (X[:1] > 0).astype(float)


def train(epochs: int, verbose: bool = True, **kwargs: object) -> mg.History:
    X, Y = data()
    model = mg.Sequential([mg.Dense(2, 1, rng=0), mg.Sigmoid()])
    return mg.fit(model, X, Y, loss="bce", optimizer=mg.optim.SGD(model.parameters(), lr=0.5),
                  epochs=epochs, metrics=["accuracy"], verbose=verbose, **kwargs)  # type: ignore[arg-type]


LINE = re.compile(
    r"^Epoch (\d+)/(\d+) - loss \d\.\d{4} - accuracy \d\.\d{4} - "
    r"val_loss \d\.\d{4} - val_accuracy \d\.\d{4} - \d+\.\d\ds - [\d,]+ examples/s$"
)


def test_verbose_false_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    train(3, verbose=False)
    assert capsys.readouterr() == ("", "")


def test_plain_lines_when_not_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    X, Y = data()
    train(3, validation=(X, Y), batch_size=10)
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert err == "" and "\r" not in out
    assert len(lines) == 4
    for i, line in enumerate(lines[:3], start=1):
        match = LINE.match(line)
        assert match is not None, line
        assert match.groups() == (str(i), "3")
    assert re.match(r"^Trained 3 epochs in \d+\.\d\ds$", lines[3])


def test_long_runs_print_about_fifty_lines(capsys: pytest.CaptureFixture[str]) -> None:
    train(120)
    lines = capsys.readouterr().out.splitlines()
    epochs = [int(line.split()[1].split("/")[0]) for line in lines[:-1]]
    assert epochs == [1, *range(3, 121, 3)]  # every ceil(120 / 50) = 3rd epoch, and the last


def test_max_lines_sets_how_many_lines_a_long_run_prints(
    capsys: pytest.CaptureFixture[str],
) -> None:
    train(120, verbose=False, callbacks=[ProgressLogger(max_lines=5)])
    lines = capsys.readouterr().out.splitlines()
    epochs = [int(line.split()[1].split("/")[0]) for line in lines[:-1]]
    assert epochs == [1, 24, 48, 72, 96, 120]  # every ceil(120 / 5) = 24th epoch, and the first


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_max_lines_must_be_a_positive_int(bad: object) -> None:
    with pytest.raises(ValueError, match=f"max_lines must be a positive int, got {bad!r}"):
        ProgressLogger(max_lines=bad)  # type: ignore[arg-type]


def test_an_early_stop_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    class StopAtTwo(mg.Callback):
        def on_epoch_end(self, state: mg.TrainState) -> None:
            if state.epoch == 1:
                state.stop("two is enough")

    train(10, callbacks=[StopAtTwo()])
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("Epoch 2/10 - ")  # the stopping epoch is always shown
    assert re.match(r"^Trained 2 epochs in .*; stopped early: two is enough$", lines[-1])


def test_all_epochs_run_then_the_best_weights_restored_is_not_called_a_stop(
    capsys: pytest.CaptureFixture[str],
) -> None:
    class WorseAtTheEnd(mg.Callback):  # epoch 2 is the best; the last two are worse
        def on_epoch_end(self, state: mg.TrainState) -> None:
            state.logs["loss"] = [3.0, 1.0, 2.0, 2.5][state.epoch]

    stopper = mg.EarlyStopping(monitor="loss", patience=5)
    train(4, callbacks=[WorseAtTheEnd(), stopper])
    last = capsys.readouterr().out.splitlines()[-1]
    assert re.fullmatch(r"Trained 4 epochs in \d+\.\d\ds; restored the best weights \(epoch 2\)",
                        last), last
    assert "stopped" not in last


def test_one_updating_line_with_tqdm_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("tqdm")
    terminal = FakeTerminal()
    monkeypatch.setattr("sys.stdout", terminal)
    train(3, batch_size=10)
    out = terminal.getvalue()
    assert "\r" in out and "Epoch 3/3" in out
    assert re.search(r"12/12 \[", out)  # 3 epochs x 4 batches
    assert re.search(r"loss=\d\.\d{4}, accuracy=\d\.\d{4}, examples/s=[\d,]+", out)
    assert out.splitlines()[-1].startswith("Trained 3 epochs in ")


def test_one_updating_line_without_tqdm() -> None:
    terminal = FakeTerminal()
    X, Y = data()
    model = mg.Sequential([mg.Dense(2, 1, rng=0), mg.Sigmoid()])
    mg.fit(model, X, Y, loss="bce", optimizer=mg.optim.SGD(model.parameters(), lr=0.5), epochs=3,
           callbacks=[ProgressLogger(terminal, use_tqdm=False)], verbose=False)
    out = terminal.getvalue()
    assert out.startswith("\rEpoch 1/3 - loss ")
    drawn, summary, end = out.split("\n")
    assert drawn.count("\r") >= 2 and drawn.rsplit("\r", 1)[1].startswith("Epoch 3/3 - loss ")
    assert summary.startswith("Trained 3 epochs in ") and end == ""


def test_a_failed_fit_ends_the_updating_line() -> None:
    terminal = FakeTerminal()
    X, Y = data()
    model = mg.Sequential([mg.Dense(2, 1, rng=0)])
    with pytest.raises(mg.DivergenceError):  # each step overshoots more: inf after ~100 epochs
        mg.fit(model, X, Y, loss="mse", optimizer=mg.optim.SGD(model.parameters(), lr=10.0),
               epochs=1000, callbacks=[ProgressLogger(terminal, use_tqdm=False)], verbose=False)
    out = terminal.getvalue()
    assert out.startswith("\rEpoch 1/1000 - loss ") and out.endswith("\n")


def test_bar_can_be_forced_off_for_a_terminal() -> None:
    terminal = FakeTerminal()
    X, Y = data()
    model = mg.Sequential([mg.Dense(2, 1, rng=0), mg.Sigmoid()])
    mg.fit(model, X, Y, loss="bce", optimizer=mg.optim.SGD(model.parameters(), lr=0.5), epochs=2,
           callbacks=[ProgressLogger(terminal, bar=False)], verbose=False)
    lines = terminal.getvalue().splitlines()
    assert "\r" not in terminal.getvalue() and len(lines) == 3

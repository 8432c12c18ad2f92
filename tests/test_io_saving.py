"""Saving under faults: killed saves are cleaned up, symlinks, and errors that name your path."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import minigrad as mg
from minigrad.io import _atomic

fcntl = pytest.importorskip("fcntl", reason="killed saves are cleaned up where flock exists")


def small() -> mg.Sequential:
    return mg.Sequential([mg.Dense(3, 2, rng=0), mg.Tanh()])


def temporaries(folder: Path) -> list[str]:
    return sorted(n for n in os.listdir(folder) if n.endswith(".tmp"))


SAVER = """
import sys
import minigrad as mg
model = mg.Sequential([mg.Dense(2000, 2000, rng=0)])  # 32 MB: a save takes a while
while True:
    mg.save(model, sys.argv[1])
"""


def kill_while_saving(path: Path, sig: int) -> None:
    """Start a process that saves to ``path`` again and again; kill it while a temp file exists."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    child = subprocess.Popen([sys.executable, "-c", SAVER, str(path)], env=env,
                             cwd=Path(__file__).resolve().parents[1])
    try:
        deadline = time.monotonic() + 60
        while not temporaries(path.parent):
            assert child.poll() is None, "the saving process ended by itself"
            assert time.monotonic() < deadline, "no save started within a minute"
            time.sleep(0.001)
        child.send_signal(sig)
        child.wait(30)
    finally:
        if child.poll() is None:  # pragma: no cover - only when an assertion above failed
            child.kill()
            child.wait()


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_the_next_save_removes_what_killed_saves_left(sig: int, tmp_path: Path) -> None:
    path = tmp_path / "model.npz"
    for _ in range(20):  # a kill may land just after a rename: try until some are left
        kill_while_saving(path, sig)
        if len(temporaries(tmp_path)) >= 2:
            break
    left = temporaries(tmp_path)
    assert left, "no kill landed during a save"
    mg.save(small(), path)
    assert temporaries(tmp_path) == []
    np.testing.assert_array_equal(mg.load(path)[0].W, small()[0].W)  # type: ignore[union-attr]


def test_a_save_in_progress_is_never_cleaned_up(tmp_path: Path) -> None:
    """A temporary file whose lock is held (a live save) stays; once released it goes."""
    path = tmp_path / "model.npz"
    live = tmp_path / ".model.npz.0123456789ab.tmp"
    live.write_bytes(b"half a save")
    fd = os.open(live, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        mg.save(small(), path)
        assert live.read_bytes() == b"half a save"
    finally:
        os.close(fd)
    mg.save(small(), path)
    assert not live.exists()


def test_only_this_paths_temporaries_are_removed(tmp_path: Path) -> None:
    others = [tmp_path / ".other.npz.0123456789ab.tmp", tmp_path / ".model.npz.notours.tmp",
              tmp_path / "model.npz.0123456789ab.tmp"]
    for other in others:
        other.write_bytes(b"not ours")
    mg.save(small(), tmp_path / "model.npz")
    assert all(other.exists() for other in others)


def test_a_temporary_removed_before_it_is_locked_is_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cleaner may take a new temporary between its creation and its lock: make another."""
    real_flock, taken = fcntl.flock, []

    def flock_after_a_cleaner(fd: int, operation: int) -> None:
        if not taken:  # the first temporary is removed by "another save" before the lock
            name = next(n for n in os.listdir(tmp_path) if n.endswith(".tmp"))
            os.unlink(tmp_path / name)
            taken.append(name)
        real_flock(fd, operation)

    monkeypatch.setattr(_atomic.fcntl, "flock", flock_after_a_cleaner)
    mg.save(small(), tmp_path / "model.npz")
    monkeypatch.undo()
    assert taken and os.listdir(tmp_path) == ["model.npz"]
    mg.load(tmp_path / "model.npz")


# -- symbolic links --------------------------------------------------------------------------


def test_saving_to_a_symlink_writes_through_it(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    real = tmp_path / "real" / "model.npz"
    mg.save(mg.Sequential([mg.Dense(3, 2, rng=5)]), real)
    link = tmp_path / "latest.npz"
    link.symlink_to(real)
    mg.save(small(), link)
    assert link.is_symlink() and os.readlink(link) == str(real)
    np.testing.assert_array_equal(mg.load(real)[0].W, small()[0].W)  # type: ignore[union-attr]
    assert sorted(os.listdir(tmp_path / "real")) == ["model.npz"]


def test_saving_to_a_dangling_symlink_creates_its_target(tmp_path: Path) -> None:
    link = tmp_path / "latest.npz"
    link.symlink_to(tmp_path / "target.npz")
    mg.save(small(), link)
    assert link.is_symlink() and (tmp_path / "target.npz").is_file()


# -- errors name the caller's path -----------------------------------------------------------


def test_a_missing_folder_is_named(tmp_path: Path) -> None:
    path = tmp_path / "no" / "such" / "m.npz"
    with pytest.raises(FileNotFoundError) as caught:
        mg.save(small(), path)
    message = str(caught.value)
    assert repr(str(path)) in message and repr(str(path.parent)) in message
    assert ".tmp" not in message


@pytest.mark.parametrize("where", ["fsync", "replace"])
def test_an_os_error_while_saving_names_the_path_not_the_temporary(
    where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: Any) -> None:
        raise OSError(28, "No space left on device", str(args[0]))

    monkeypatch.setattr(_atomic.os, where, fail)
    path = tmp_path / "m.npz"
    with pytest.raises(OSError, match="No space left on device") as caught:
        mg.save(small(), path)
    monkeypatch.undo()
    assert caught.value.errno == 28
    assert repr(str(path)) in str(caught.value) and ".tmp" not in str(caught.value)
    assert os.listdir(tmp_path) == []


# -- ModelCheckpoint checks its path before the first epoch -----------------------------------


X = np.random.default_rng(0).normal(size=(3, 8))
Y = (X[0] > 0).astype(int)


@pytest.mark.parametrize("template, message", [
    ("m-{step}.npz", r"there is no field 'step'\); it may use the fields epoch, loss"),
    ("m-{}.npz", r"positional fields such as \{\} get no value"),
    ("m-{epoch:s}.npz", "Unknown format code 's'"),
    ("m-{loss.x}.npz", "has no attribute 'x'"),
    ("missing/m-{epoch}.npz", r"the folder '.*missing' does not exist"),
    ("file.txt/m.npz", r"the folder '.*file\.txt' is a file"),
])
def test_a_checkpoint_path_that_cannot_work_is_refused_before_training(
    template: str, message: str, tmp_path: Path
) -> None:
    (tmp_path / "file.txt").write_text("x")
    model = mg.Sequential([mg.Dense(3, 2, rng=0), mg.Softmax()])
    before = model[0].W.copy()  # type: ignore[union-attr]
    checkpoint = mg.ModelCheckpoint(str(tmp_path / template))
    with pytest.raises(mg.InputError, match=message):
        mg.fit(model, X, Y, epochs=2, loss=mg.losses.CategoricalCrossEntropy(),
               optimizer=mg.optim.SGD(model.parameters(), lr=0.1), callbacks=[checkpoint],
               verbose=0)
    np.testing.assert_array_equal(model[0].W, before)  # type: ignore[union-attr]
    assert sorted(os.listdir(tmp_path)) == ["file.txt"]


def test_a_checkpoint_folder_that_depends_on_the_epoch_is_not_checked_early(
    tmp_path: Path
) -> None:
    for epoch in (1, 2):
        (tmp_path / f"run{epoch}").mkdir()
    model = mg.Sequential([mg.Dense(3, 2, rng=0), mg.Softmax()])
    checkpoint = mg.ModelCheckpoint(str(tmp_path / "run{epoch}" / "m.npz"),
                                    save_best_only=False)
    mg.fit(model, X, Y, epochs=2, loss=mg.losses.CategoricalCrossEntropy(),
           optimizer=mg.optim.SGD(model.parameters(), lr=0.1), callbacks=[checkpoint], verbose=0)
    assert (tmp_path / "run2" / "m.npz").is_file()


def test_concurrent_saves_to_one_path_leave_one_whole_file(tmp_path: Path) -> None:
    """Threads saving to one path at once: each save is atomic, none removes another's file."""
    import threading

    path = tmp_path / "model.npz"
    models = [mg.Sequential([mg.Dense(30, 20, rng=i)]) for i in range(6)]
    errors: list[BaseException] = []

    def save_often(model: mg.Layer) -> None:
        try:
            for _ in range(5):
                mg.save(model, path)
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=save_often, args=(m,)) for m in models]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert os.listdir(tmp_path) == ["model.npz"]
    W = mg.load(path)[0].W  # type: ignore[union-attr]
    assert any(np.array_equal(W, m[0].W) for m in models)  # type: ignore[union-attr]

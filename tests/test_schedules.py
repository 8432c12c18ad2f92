"""Learning-rate schedules against hand-worked values."""

from __future__ import annotations

import math

import pytest

import minigrad as mg
from minigrad.optim import SGD, CosineDecay, ExponentialDecay, ReduceLROnPlateau, StepDecay


def test_step_decay() -> None:
    # lr(t) = 0.1 * 0.5 ** floor(t / 3)
    schedule = StepDecay(0.1, step_size=3, gamma=0.5)
    assert [schedule(t) for t in range(7)] == [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025]


def test_exponential_decay() -> None:
    # lr(t) = 0.2 * 0.5 ** t
    schedule = ExponentialDecay(0.2, gamma=0.5)
    assert [schedule(t) for t in range(4)] == [0.2, 0.1, 0.05, 0.025]


def test_cosine_decay_without_warmup() -> None:
    # p = t / 4; lr = 0.1 + 0.9 * (1 + cos(pi p)) / 2
    schedule = CosineDecay(1.0, total_steps=4, min_lr=0.1)
    half = math.sqrt(0.5)
    expected = [1.0, 0.1 + 0.9 * (1 + half) / 2, 0.55, 0.1 + 0.9 * (1 - half) / 2, 0.1, 0.1]
    assert [schedule(t) for t in range(6)] == pytest.approx(expected, rel=1e-15)


def test_cosine_decay_with_warmup() -> None:
    # warm-up: t = 0, 1 -> 0.5 * (t + 1) / 2 = 0.25, 0.5; then cosine over 4 steps down to 0
    schedule = CosineDecay(0.5, total_steps=6, warmup_steps=2)
    values = [schedule(t) for t in range(7)]
    assert values == pytest.approx([0.25, 0.5, 0.5, 0.25 * (1 + math.sqrt(0.5)), 0.25,
                                    0.25 * (1 - math.sqrt(0.5)), 0.0], abs=1e-15)


def test_schedules_drive_an_optimizer_in_a_manual_loop() -> None:
    opt = SGD(mg.Dense(1, 1, rng=0).parameters(), lr=1.0)
    schedule = StepDecay(0.4, step_size=1, gamma=0.5)
    seen = []
    for epoch in range(3):
        opt.lr = schedule(epoch)
        seen.append(opt.lr)
    assert seen == [0.4, 0.2, 0.1]


def test_schedule_argument_errors() -> None:
    with pytest.raises(ValueError, match="StepDecay: step_size must be >= 1"):
        StepDecay(0.1, step_size=0)
    with pytest.raises(ValueError, match="initial_lr must be a finite number > 0"):
        ExponentialDecay(-0.1, gamma=0.5)
    with pytest.raises(ValueError, match=r"warmup_steps \(5\) must be less than total_steps"):
        CosineDecay(0.1, total_steps=5, warmup_steps=5)
    with pytest.raises(ValueError, match=r"min_lr \(1.0\) must not exceed initial_lr"):
        CosineDecay(0.1, total_steps=5, min_lr=1.0)
    with pytest.raises(ValueError, match="t must be an int >= 0"):
        StepDecay(0.1, step_size=2)(-1)


def test_reduce_on_plateau_waits_patience_epochs_then_cuts() -> None:
    opt = SGD(mg.Dense(1, 1, rng=0).parameters(), lr=1.0)
    plateau = ReduceLROnPlateau(opt, factor=0.5, patience=2, min_delta=0.01)
    # 1.0 best; 0.995 is not better by > 0.01 (bad 1); 0.999 (bad 2) -> cut to 0.5;
    # 0.5 improves; then two bad epochs -> 0.25
    lrs = [plateau.step(v) for v in (1.0, 0.995, 0.999, 0.5, 0.6, 0.6)]
    assert lrs == [1.0, 1.0, 0.5, 0.5, 0.5, 0.25]
    assert plateau.best == 0.5


def test_reduce_on_plateau_cooldown_min_lr_and_max_mode() -> None:
    opt = SGD(mg.Dense(1, 1, rng=0).parameters(), lr=1.0)
    plateau = ReduceLROnPlateau(opt, factor=0.1, patience=1, mode="max", cooldown=1, min_lr=0.05)
    # 0.5 best; 0.4 bad -> 0.1; cooldown epoch (0.4) does not count; 0.3 bad -> max(0.01, 0.05)
    lrs = [plateau.step(v) for v in (0.5, 0.4, 0.4, 0.3)]
    assert lrs == [1.0, 0.1, 0.1, 0.05]


def test_reduce_on_plateau_state_round_trip_and_errors() -> None:
    opt = SGD(mg.Dense(1, 1, rng=0).parameters(), lr=1.0)
    plateau = ReduceLROnPlateau(opt, patience=3)
    plateau.step(2.0)
    plateau.step(3.0)
    state = plateau.state_dict()
    assert state == {"best": 2.0, "bad_epochs": 1, "cooldown_left": 0}
    other = ReduceLROnPlateau(opt, patience=3)
    other.load_state_dict(state)
    assert (other.best, other.bad_epochs) == (2.0, 1)
    with pytest.raises(ValueError, match="expected keys"):
        other.load_state_dict({"best": 1.0})
    with pytest.raises(ValueError, match="monitored value is nan"):
        plateau.step(math.nan)
    with pytest.raises(ValueError, match=r"factor must lie in \[0, 1\)"):
        ReduceLROnPlateau(opt, factor=1.5)

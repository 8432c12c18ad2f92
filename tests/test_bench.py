"""The benchmark script runs and measures what it says (a smoke test on the smallest net)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("minigrad_bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["minigrad_bench"] = module
    spec.loader.exec_module(module)
    return module


def test_planar_round_times_every_implementation_and_they_agree(bench: ModuleType) -> None:
    args = bench._parse_args(["--quick", "--no-torch", "--rounds", "2", "--threads", "1"])
    cfg = bench.make_configs(quick=True)["planar"]
    result = bench.run_config(cfg, args, "1")
    assert set(result.times) == {"numpy", "minigrad", "mg logits", "mg.fit", "mg plain", "GEMM"}
    assert all(len(t) == 2 and min(t) > 0 for t in result.times.values())
    lo, hi = result.spread("minigrad")
    assert lo <= result.ratio("minigrad") <= hi
    agree = bench.agreement(cfg, bench.data_for(cfg), with_torch=False)
    assert max(agree.values()) < 1e-12  # float64: the same steps, up to rounding


def test_graph_and_residual_nets_compute_what_numpy_computes(bench: ModuleType) -> None:
    configs = bench.make_configs(quick=True)
    for name in ("mnist-b32-f32", "resmlp-b32-f32"):
        cfg = configs[name]
        cfg64 = bench.Config(cfg.name, cfg.title, cfg.kind, cfg.sizes, np.float64, cfg.batch,
                             cfg.lr)
        agree = bench.agreement(cfg64, bench.data_for(cfg64), with_torch=False, steps=3)
        assert max(agree.values()) < 1e-10, agree


def test_a_target_says_when_its_table_ran_on_a_busy_machine(bench: ModuleType) -> None:
    cfg = bench.make_configs(quick=True)["planar"]
    quiet = bench.Result(cfg, 10, 3, {"numpy": [1.0, 1.02, 1.05], "minigrad": [1.1, 1.1, 1.2]})
    busy = bench.Result(cfg, 10, 3, {"numpy": [1.0, 1.6, 2.0], "minigrad": [1.05, 1.7, 2.1]})
    ok, text = bench._check(quiet, "minigrad", "numpy", 1.10)
    assert ok and "busy" not in text
    ok, text = bench._check(busy, "minigrad", "numpy", 1.10)
    assert ok and text.endswith("<= 1.10; busy: numpy's median is 1.60x its minimum)")
    ok, _ = bench._check(busy, "minigrad", "numpy", 1.0)  # the verdict is left as measured
    assert not ok


def test_a_noisy_table_runs_again_and_the_last_attempt_is_reported(
    bench: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = bench.make_configs(quick=True)["planar"]
    quiet = {"numpy": [1.0, 1.01, 1.02, 1.03], "minigrad": [1.05, 1.06, 1.07, 1.08]}
    busy = {"numpy": [1.0, 1.5, 1.6, 1.7], "minigrad": [1.0, 1.6, 1.7, 1.8]}
    wide = {"numpy": [1.0, 1.0, 1.0, 1.0], "minigrad": [0.9, 1.0, 1.2, 1.3]}
    for times in (quiet, busy, wide):
        times["GEMM"] = [0.5] * 4  # the tables show every row / GEMM
    assert bench.Result(cfg, 1, 4, quiet).noise() is None
    assert bench.Result(cfg, 1, 4, busy).noise() == "busy 1.55"
    assert bench.Result(cfg, 1, 4, wide).noise() == "minigrad / numpy IQR 0.97-1.23"

    class Pace(bench.Pace):  # the machine at one pace throughout, unless told otherwise
        def __init__(self) -> None:
            self.fastest = {"1": 1.0}
            self.probes: list[float] = []

        def probe(self, threads: str) -> float:
            return self.probes.pop(0) if self.probes else 1.0

    pace = Pace()
    monkeypatch.setattr(bench, "PACE", pace)
    attempts = iter([busy, wide, quiet])
    monkeypatch.setattr(bench, "interleave", lambda impls, steps, rounds: next(attempts))
    args = bench._parse_args(["--quick", "--no-torch", "--threads", "1"])
    result = bench.run_config(cfg, args, "1")
    assert result.times is quiet and [e["why"] for e in result.earlier] == [
        "busy 1.55", "minigrad / numpy IQR 0.97-1.23"]
    assert result.earlier[1]["ratios"] == {"minigrad / numpy": pytest.approx(1.1)}
    assert bench.table(result)[0].endswith(
        "; attempt 3, after 2 noisy (busy 1.55, minigrad / numpy 1.061; "
        "minigrad / numpy IQR 0.97-1.23, minigrad / numpy 1.100)")
    _, text = bench._check(result, "minigrad", "numpy", 1.10)
    assert text.endswith("<= 1.10; attempt 3)")

    attempts = iter([busy, wide, busy])  # still noisy after --repeats: the last is kept
    result = bench.run_config(cfg, bench._parse_args(["--quick", "--no-torch", "--repeats",
                                                      "2"]), "1")
    assert result.times is busy and len(result.earlier) == 2
    attempts = iter([busy])
    result = bench.run_config(cfg, bench._parse_args(["--quick", "--repeats", "0"]), "1")
    assert result.times is busy and not result.earlier

    # slowed from start to finish: quiet by the times alone, but the probe after it took 1.6x
    pace.probes = [1.0, 1.6]
    attempts = iter([quiet, quiet])
    result = bench.run_config(cfg, args, "1")
    assert [e["why"] for e in result.earlier] == ["slowed 1.60"] and result.pace == 1.0
    pace.probes = [1.0, 1.6, 1.7, 1.0, 1.5, 1.2]  # slowed every time: the last is kept, and says so
    attempts = iter([quiet, quiet, quiet])
    result = bench.run_config(cfg, args, "1")
    assert result.pace == 1.5 and len(result.earlier) == 2
    _, text = bench._check(result, "minigrad", "numpy", 1.10)
    assert text.endswith("<= 1.10; slowed: the probe took 1.50x the run's fastest; attempt 3)")


def test_thread_settings_and_scaling_points_parse(bench: ModuleType) -> None:
    assert bench._parse_args([]).threads == ["default", "1"]
    with pytest.raises(SystemExit):
        bench._parse_args(["--threads", "0"])
    axes = {axis for axis, _, _ in bench.scaling_points(quick=True)}
    assert axes == {"width", "depth", "batch"}


def test_a_float32_model_and_its_optimizers_hold_only_float32_arrays(bench: ModuleType) -> None:
    # by hand with Adam, with fit and SGD momentum (whose plain-SGD lr array stays unmade)
    assert bench.float32_check(256) == []


def test_the_summary_table_bolds_exactly_the_missed_targets(bench: ModuleType) -> None:
    configs = bench.make_configs(quick=True)
    planar = bench.Result(configs["planar"], 1, 4, {
        "numpy": [1.0] * 4, "minigrad": [1.2, 1.2, 1.1, 1.2], "mg logits": [1.0] * 4,
        "mg.fit": [1.1] * 4, "mg plain": [1.3] * 4, "torch": [5.0] * 4, "GEMM": [0.1] * 4})
    big = bench.Result(configs["mnist-b1024-f32"], 1, 4, {
        "numpy": [1.0] * 4, "minigrad": [1.0] * 4, "mg.fit": [1.0] * 4,
        "mg plain": [1.3] * 4, "GEMM": [0.8] * 4})
    _, _, row1, row2 = bench.summary_table([planar, big])
    assert row1 == ("| planar | 1 | **1.200 [1.18-1.20]** | 1.100 [1.10-1.10] | 1.300 | "
                    "`mg logits` 1.000 [1.00-1.00] | 0.240 [0.23-0.24] |")
    assert row2 == ("| mnist-b1024-f32 | 1 | 1.000 [1.00-1.00] | 1.000 [1.00-1.00] | 1.300 | "
                    "/ GEMM **1.250 [1.25-1.25]** | - |")


def test_a_lenet_row_says_when_it_ran_slowed_or_again(bench: ModuleType) -> None:
    rows = [{"batch": 64, "threads": "default", "ratio": 0.7, "pace": 1.0, "earlier_attempts": []},
            {"batch": 256, "threads": "default", "ratio": 1.4, "pace": 1.45,
             "earlier_attempts": [{"pace": 1.5, "ratio": 1.3}, {"pace": 1.6, "ratio": 1.2}]},
            {"batch": 64, "threads": "1", "ratio": 0.8, "pace": 1.0, "earlier_attempts": []}]
    checks = bench.targets([], {}, None, rows)
    assert checks == [
        (True, "lenet-b64 [threads default]: minigrad / torch = 0.700 (<= 1.00)"),
        (False, "lenet-b256 [threads default]: minigrad / torch = 1.400 (<= 1.25; slowed: the "
                "probe took 1.45x the run's fastest; attempt 3)"),
    ]

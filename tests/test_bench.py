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


def test_thread_settings_and_scaling_points_parse(bench: ModuleType) -> None:
    assert bench._parse_args([]).threads == ["default", "1"]
    with pytest.raises(SystemExit):
        bench._parse_args(["--threads", "0"])
    axes = {axis for axis, _, _ in bench.scaling_points(quick=True)}
    assert axes == {"width", "depth", "batch"}


def test_a_float32_model_and_its_optimizers_hold_only_float32_arrays(bench: ModuleType) -> None:
    # by hand with Adam, with fit and SGD momentum (whose plain-SGD lr array stays unmade)
    assert bench.float32_check(256) == []

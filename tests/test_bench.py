"""``bench --quick`` runs end to end on the tiny bundle; figures are measured, never asserted."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tiny_models import tiny_bert

from taskfair import bench

KEYS = (
    "naive_s_per_lambda",
    "exact_s_per_lambda",
    "speedup",
    "preview_ms",
    "preview_setup_s",
    "preview_agreement",
    "matmul_gflops",
    "achieved_gflops",
)


def test_flops_formula_counts_real_tokens():
    model = tiny_bert()  # 2 layers, d = 32
    shape = bench.encoder_shape(model)
    assert shape["layers"] == 2 and shape["hidden"] == 32
    assert shape["p_head"] == 32 * 32 + 32 + 32 * 2 + 2  # pooler + classifier
    one = bench.encoder_flops(model, [10])
    assert one == pytest.approx(2 * shape["p_enc"] * 10 + 4 * 2 * 32 * 100 + 2 * shape["p_head"])
    assert bench.encoder_flops(model, [10, 10]) == pytest.approx(2 * one)


def test_matmul_rate_is_positive():
    assert bench.matmul_gflops("cpu", n=256, reps=1) > 0


@pytest.mark.slow
def test_bench_quick_on_the_tiny_bundle(request, tmp_path, capsys):
    try:
        path = request.getfixturevalue("tiny_bundle")
    except pytest.FixtureLookupError:
        pytest.skip("the tiny_bundle fixture (taskfair.build) is not available yet")
    from taskfair.cli import main

    out = tmp_path / "bench.json"
    assert (
        main(["bench", "--bundle", str(path), "--quick", "--rows", "24", "--json", str(out)]) == 0
    )
    res = json.loads(out.read_text())
    for key in KEYS:
        assert np.isfinite(res[key]) and res[key] > 0, key
    assert set(res["peak_rss_mb"]) == {"naive", "exact", "preview"}
    assert all(v > 0 for v in res["peak_rss_mb"].values())
    assert 0 <= res["preview_agreement"] <= 1 and res["rows"] == 24
    assert "seconds per λ" in capsys.readouterr().out

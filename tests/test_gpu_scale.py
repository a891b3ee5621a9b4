"""scripts/gpu_scale.py's CPU path at a tiny size: every figure it reports is produced."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("gpu_scale", ROOT / "scripts" / "gpu_scale.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_gpu_scale_runs_its_cpu_path_at_a_tiny_size(tmp_path):
    out = tmp_path / "tiny.json"
    rc = _script().main(
        ["--tiny", "--device", "cpu", "--repeats", "1", "--rows", "40", "--out", str(out)]
    )
    assert rc == 0
    got = json.loads(out.read_text())
    forms = got["merge"]["forms"]
    assert set(forms) == {"dense", "r16", "r64", "sparse1%"}
    assert all(f["ms_per_layer"] > 0 for f in forms.values())
    size = {k: f["vector_bytes_per_layer"] for k, f in forms.items()}
    assert size["sparse1%"] < size["r16"] < min(size["r64"], size["dense"])
    exact = got["exact"]
    assert exact["finite"] and exact["rows"] == 40 and exact["seconds_per_10k_rows"] > 0
    assert exact["parameters"] > 0 and "peak_allocated_gib" not in exact  # CUDA only
    assert exact["planner"]["total_gib"] > exact["planner"]["total_without_runtime_gib"] > 0

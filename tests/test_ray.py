"""``build --ray`` and ``sweep --ray`` on a local Ray (``ray.init(num_cpus=2)``) against the
local path on the tiny bundle: the same vectors, logs, manifest and sweep rows, compared
with tolerances (a worker's kernels may round differently from the driver's).

Ray is optional: these tests skip when it is not installed (CI installs it), and one test
checks the message a user gets without it."""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from taskfair import cli
from taskfair.build import build_bundle, load_config
from taskfair.bundle import Bundle
from taskfair.distributed import RayOptions
from taskfair.distributed.build import ray_runner
from taskfair.distributed.sweep import ray_sweep
from taskfair.sweep import sweep_bundle
from taskfair.vectors import TaskVector

ROOT = Path(__file__).resolve().parents[1]
HAVE_RAY = importlib.util.find_spec("ray") is not None
# torch threads in a task: ray.init(num_cpus=2) can schedule a task of at most 2 CPUs, and
# a local run with the same number of threads does the same reductions.
THREADS = min(2, torch.get_num_threads())
# Results computed in another process are compared within these (relative, absolute).
RTOL, ATOL = 1e-4, 1e-6


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def tiny_config(hatexplain_csv):
    cfg = load_config(ROOT / "configs" / "tiny.yaml")
    options = dict(cfg.dataset.options, path=str(hatexplain_csv))
    return cfg.replace(dataset=cfg.dataset.__class__(cfg.dataset.name, options), device="cpu")


@pytest.fixture(scope="module")
def local_tiny(tiny_bundle, tiny_config, tmp_path_factory):
    """The tiny bundle built locally with :data:`THREADS` torch threads (the session's
    own when that is the default, so it is not built twice)."""
    if torch.get_num_threads() == THREADS:
        return tiny_bundle
    before = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        out = tmp_path_factory.mktemp("local") / "tiny"
        build_bundle(tiny_config, out)
    finally:
        torch.set_num_threads(before)
    return out


def _assert_close(got, want, where: str = "") -> None:
    """``got`` is ``want`` (nested dicts and lists), floats within :data:`RTOL` /
    :data:`ATOL`, timings (``seconds``) ignored."""
    if isinstance(want, dict):
        keys = {k for k in want if k != "seconds"}
        assert {k for k in got if k != "seconds"} == keys, where
        for k in keys:
            _assert_close(got[k], want[k], f"{where}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            _assert_close(g, w, f"{where}[{i}]")
    elif isinstance(want, float) and not isinstance(got, bool):
        assert isinstance(got, (int, float)), where
        assert math.isclose(got, want, rel_tol=RTOL, abs_tol=ATOL) or (
            math.isnan(got) and math.isnan(want)
        ), f"{where}: {got} != {want}"
    else:
        assert got == want, where


def _assert_same_vector(got_path: Path, want_path: Path) -> None:
    """The same keys, forms and values: each tensor within :data:`RTOL` and a tolerance
    scaled by its largest entry (a trained difference is small next to the weights)."""
    got, want = TaskVector.load(got_path), TaskVector.load(want_path)
    assert sorted(got.keys()) == sorted(want.keys())
    g, w = got.tensors, want.tensors
    for k in want.keys():
        scale = float(w[k].abs().max()) if w[k].numel() else 0.0
        torch.testing.assert_close(g[k], w[k], rtol=RTOL, atol=ATOL + RTOL * scale, msg=k)


@pytest.mark.ray
def test_build_on_ray_is_the_local_build(ray_local, local_tiny, tiny_config, tmp_path):
    out = tmp_path / "tiny"
    lines = []
    build_bundle(
        tiny_config, out, remote=ray_runner(RayOptions(num_cpus=THREADS)), echo=lines.append
    )
    # FFT, LoRA, four subgroups, and the matched FFT and LoRA of the class-balanced variant
    assert any(line.startswith("ray: 8 run(s) as tasks of") for line in lines)
    local, remote = Bundle.open(local_tiny), Bundle.open(out)
    assert remote.manifest["complete"]
    for e in local.vector_entries():
        _assert_same_vector(out / e.path, local_tiny / e.path)
        _assert_close(remote.log(e.name), local.log(e.name), e.log)
    ml, mr = local.manifest, remote.manifest
    assert mr["vectors"] == ml["vectors"]  # names, paths, forms and sizes
    _assert_close(mr["results"], ml["results"], "results")
    # The base and the eval rows are made by the driver: the same files. The vectors and
    # logs are checked above by value; their checksums may differ in the last bits.
    trained = {e.path for e in local.vector_entries()} | {e.log for e in local.vector_entries()}
    assert set(mr["artifacts"]) == set(ml["artifacts"])
    assert {k: v for k, v in mr["artifacts"].items() if k not in trained} == {
        k: v for k, v in ml["artifacts"].items() if k not in trained
    }


@pytest.mark.ray
def test_sweep_on_ray_is_the_local_sweep(ray_local, local_tiny, tmp_path):
    a = shutil.copytree(local_tiny, tmp_path / "a", ignore=shutil.ignore_patterns("sweeps"))
    b = shutil.copytree(local_tiny, tmp_path / "b", ignore=shutil.ignore_patterns("sweeps"))
    lams = [0.0, 0.5, 1.0]
    before = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        want = sweep_bundle(Bundle.open(a), "all", lams=lams, references=True)
    finally:
        torch.set_num_threads(before)
    options = RayOptions(num_cpus=THREADS, actors=2)  # the grid dealt to two actors
    [got] = ray_sweep([Bundle.open(b)], "all", lams=lams, references=True, options=options)
    assert len(got) == len(want) and len(want) > 0
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=RTOL, atol=ATOL)
    # the same points cached: the same keys, rows and logits
    files = sorted(p.name for p in (a / "sweeps").iterdir())
    assert files == sorted(p.name for p in (b / "sweeps").iterdir()) and files
    for name in files:
        if name.endswith(".logits.npy"):
            np.testing.assert_allclose(
                np.load(b / "sweeps" / name), np.load(a / "sweeps" / name), rtol=RTOL, atol=ATOL
            )
        elif name.endswith(".parquet"):
            pd.testing.assert_frame_equal(
                pd.read_parquet(b / "sweeps" / name),
                pd.read_parquet(a / "sweeps" / name),
                check_exact=False,
                rtol=RTOL,
                atol=ATOL,
            )
    # a second sweep finds every point cached (no actor is needed): the same frame
    [again] = ray_sweep([Bundle.open(b)], "all", lams=lams, references=True)
    pd.testing.assert_frame_equal(again, got)


@pytest.mark.ray
def test_sweep_spreads_bundles_over_actors(ray_local, local_tiny, tmp_path, capsys):
    copies = [
        shutil.copytree(local_tiny, tmp_path / n, ignore=shutil.ignore_patterns("sweeps"))
        for n in ("x", "y")
    ]
    rc = cli.main(
        [
            "sweep",
            "--bundle",
            *map(str, copies),
            "--method",
            "task_addition",
            "--lams",
            "0,1",
            "--splits",
            "val",
            "--ray",
            "--ray-cpus",
            "1",
            "--ray-actors",
            "2",
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert out.count("cache: ") == 2
    for c in copies:
        assert len(list((c / "sweeps").glob("*.parquet"))) == 2  # λ 0 and 1 on val


@pytest.mark.skipif(HAVE_RAY, reason="checks the message shown when Ray is not installed")
def test_ray_flags_without_ray_name_the_install(tiny_bundle, capsys):
    rc = cli.main(["sweep", "--bundle", str(tiny_bundle), "--lams", "0", "--ray"])
    assert rc == 2
    assert "pip install 'ray[default]'" in capsys.readouterr().err
    manifest = json.loads((tiny_bundle / "manifest.json").read_text())
    assert manifest["complete"]

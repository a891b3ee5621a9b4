"""The installable library: its metadata, its wheel, its command and the README's example.

``pyproject.toml`` declares the ``taskfair`` package (the library only), its ranges and
extras, and the ``taskfair`` command; ``requirements.txt`` is the pinned install CI and
the image use. Here: the two lists agree, a wheel built from the sources holds every
module of the library and nothing of the dashboard, the wheel installed elsewhere imports
every module and runs its command, the command of this environment is ``python -m
taskfair``, and the README's library example runs from a folder outside the checkout.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DASHBOARD = (
    "app.py",
    "dashboard",
    "tests",
    "docker",
    "scripts",
)
EXAMPLE_TIMEOUT = 900  # MiniLM over the test split: ~20 s idle, minutes on 2 loaded cores


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _requirements(lines) -> dict[str, Requirement]:
    reqs = [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]
    return {r.name.lower(): r for r in reqs}


def _clean_env(**extra: str) -> dict[str, str]:
    """This environment without PYTHONPATH (the checkout must not leak in), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return {**env, **extra}


def _modules() -> list[str]:
    """Every module of the library, from the sources (``taskfair.x.y``)."""
    names = []
    for path in sorted((ROOT / "taskfair").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


# ----------------------------------------------------------------------------- metadata


def test_requirements_pin_the_library_and_its_app_and_vision_extras():
    project = _pyproject()["project"]
    declared = _requirements(
        project["dependencies"]
        + project["optional-dependencies"]["app"]
        + project["optional-dependencies"]["vision"]
    )
    pinned = _requirements((ROOT / "requirements.txt").read_text().splitlines())
    assert set(pinned) == set(declared), set(pinned) ^ set(declared)
    for name, req in pinned.items():
        spec = declared[name].specifier
        for clause in req.specifier:
            # requirements.txt pins inside the declared range, with the same lower bounds.
            if clause.operator == "==":
                assert spec.contains(clause.version, prereleases=True), (name, spec, clause)
            else:
                assert clause in set(spec), (name, spec, clause)
    assert pinned["torch"].specifier and all(c.operator == "==" for c in pinned["torch"].specifier)


def test_extras_and_command_are_declared():
    project = _pyproject()["project"]
    assert {"app", "vision", "ray", "dev"} <= set(project["optional-dependencies"])
    assert project["scripts"] == {"taskfair": "taskfair.cli:main"}


# ----------------------------------------------------------------------------- the wheel


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy of the sources (so no build folder lands in the checkout)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(
        ROOT / "taskfair", src / "taskfair", ignore=shutil.ignore_patterns("__pycache__")
    )
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    (whl,) = out.glob("taskfair-*.whl")
    return whl


def test_wheel_holds_every_module_of_the_library_and_nothing_else(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {
        "taskfair",
        wheel.name.split("-py3")[0] + ".dist-info",
    }
    files = {n for n in names if n.endswith(".py")}
    for mod in _modules():
        path = mod.replace(".", "/")
        assert f"{path}.py" in files or f"{path}/__init__.py" in files, mod
    for name in DASHBOARD:
        assert not any(n == name or n.startswith(name + "/") for n in names), name
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert re.search(r"^taskfair = taskfair\.cli:main$", text, re.M), text


def test_installed_wheel_imports_every_module_from_elsewhere(wheel, tmp_path):
    site = tmp_path / "site"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(site),
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = _clean_env(PYTHONPATH=str(site))
    code = (
        "import importlib, sys, taskfair\n"
        "print(taskfair.__file__)\n"
        "for m in sys.argv[1:]:\n"
        "    importlib.import_module(m)\n"
    )
    mods = [m for m in _modules() if not m.endswith("__main__")]
    run = subprocess.run(
        [sys.executable, "-c", code, *mods],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    assert Path(run.stdout.splitlines()[0]).is_relative_to(site), run.stdout
    # The wheel's own command, with the wheel's copy of the library.
    helped = subprocess.run(
        [sys.executable, str(site / "bin" / "taskfair"), "--help"],
        cwd=work, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert helped.returncode == 0, helped.stderr
    assert "export-viewer" in helped.stdout


# ----------------------------------------------------------------------------- installed here


def test_taskfair_command_is_python_m_taskfair(tmp_path):
    """The environment's ``taskfair`` command (``pip install -e .`` or ``pip install .``)."""
    exe = shutil.which("taskfair", path=str(BIN))
    assert exe, (
        f"no taskfair command in {BIN}: install the project (make install, or pip install -e .)"
    )
    env = _clean_env()
    command = subprocess.run(
        [exe, "--help"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    module = subprocess.run(
        [sys.executable, "-m", "taskfair", "--help"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert command.returncode == module.returncode == 0, command.stderr + module.stderr
    assert command.stdout == module.stdout
    for name in ("build", "sweep", "bench", "export-viewer", "prepare-data", "info"):
        assert name in command.stdout, name


def _readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(r"^## Library\n.*?^```python\n(.*?)^```", text, re.M | re.S)
    assert match, "README.md has no python block under '## Library'"
    return match.group(1)


@pytest.mark.slow
def test_readme_library_example_runs_outside_the_checkout(tiny_bundle, hatexplain_csv, tmp_path):
    """The README's block, as written, in a user's folder (its ``data/`` prepared), with
    the installed package; only the bundle's path is the session's tiny bundle."""
    code = _readme_example()
    assert '"models/demo"' in code
    code = code.replace('"models/demo"', repr(str(tiny_bundle)))
    work = tmp_path / "notebook"
    (work / "data").mkdir(parents=True)
    (work / "data" / "hatexplain").symlink_to(hatexplain_csv.parent, target_is_directory=True)
    (work / "example.py").write_text(code)
    run = subprocess.run(
        [sys.executable, "example.py"],
        cwd=work,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=EXAMPLE_TIMEOUT,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    first, *rest = run.stdout.strip().splitlines()
    accuracy, dpd, eod = (float(x) for x in first.split())
    assert 0 < accuracy <= 1 and 0 <= dpd <= 1 and 0 <= eod <= 1, first
    from taskfair.bundle import Bundle

    table = "\n".join(rest)
    for group in Bundle.open(tiny_bundle).groups:
        assert group in table, (group, table)

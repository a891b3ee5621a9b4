"""The hosted image's steps, without a Docker engine.

The Dockerfile keeps its build steps in ``docker/setup.sh``; here they run into a clean
virtual environment, and the image's own command (its ``CMD``, with its ``ENV``) starts
the app from that environment against the tiny bundle on a free loopback port. The
image's health check (``docker/healthcheck.py``, Streamlit's ``/_stcore/health``) must
pass and ``/`` must be served. The Dockerfile itself is checked statically: a CPU base by
default with a build argument for another (CUDA) base, a non-root user, the health
check, setup.sh.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
SETUP_TIMEOUT = 1500  # pip with a warm wheel cache: ~1 min idle, ~3 min on 2 loaded cores
START_TIMEOUT = 120


def _instructions() -> list[tuple[str, str]]:
    """``[(INSTRUCTION, arguments)]`` of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _env() -> dict[str, str]:
    """The image's ENV (PATH left out: the test puts its own venv first)."""
    env = {}
    for word, rest in _instructions():
        if word == "ENV":
            for item in shlex.split(rest):
                key, _, value = item.partition("=")
                if key != "PATH":
                    env[key] = value
    return env


# ----------------------------------------------------------------------------- static


def test_dockerfile_builds_a_cpu_image_by_default_and_runs_as_non_root():
    ins = _instructions()
    words = [w for w, _ in ins]
    # A base chosen by build argument (CPU by default), declared before FROM.
    arg = next(rest for w, rest in ins if w == "ARG" and rest.startswith("BASE_IMAGE="))
    assert "slim" in arg or "python:" in arg, arg
    assert words.index("ARG") < words.index("FROM")
    assert dict(ins)["FROM"].startswith("${BASE_IMAGE}")
    assert any(w == "ARG" and rest.startswith("TORCH_INDEX") for w, rest in ins)
    # The build steps are docker/setup.sh, the script this file's slow test runs.
    assert any(w == "RUN" and "docker/setup.sh" in rest for w, rest in ins)
    # Runs as a named non-root user, set before the command.
    users = [rest for w, rest in ins if w == "USER"]
    assert users and users[-1] not in ("root", "0") and not users[-1].startswith("0:")
    assert words.index("USER") < words.index("CMD")
    # Health check on Streamlit's health endpoint, through the script tested below.
    (health,) = [rest for w, rest in ins if w == "HEALTHCHECK"]
    assert "docker/healthcheck.py" in health
    assert "/_stcore/health" in (ROOT / "docker" / "healthcheck.py").read_text()
    # Viewer mode, offline, no error details for visitors.
    env = _env()
    assert env["TASKFAIR_MODE"] == "viewer"
    assert env["HF_HUB_OFFLINE"] == "1"
    assert env["STREAMLIT_CLIENT_SHOW_ERROR_DETAILS"] == "none"
    assert env["STREAMLIT_SERVER_ADDRESS"] == "0.0.0.0"  # -p PORT:8501 reaches it
    cmd = json.loads(dict(ins)["CMD"])
    assert cmd[:3] == ["streamlit", "run", "app.py"]


def test_dockerignore_keeps_secrets_and_data_out():
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    for entry in (".streamlit/secrets.toml", ".venv", ".git", "data"):
        assert entry in ignored, entry


# ----------------------------------------------------------------------------- the steps


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.status, resp.read().decode("utf-8", "replace")


@pytest.mark.slow
def test_image_steps_install_and_serve_the_viewer(tiny_bundle, tmp_path):
    venv = tmp_path / "venv"
    setup = subprocess.run(
        ["bash", "docker/setup.sh", str(venv)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=SETUP_TIMEOUT,
    )
    assert setup.returncode == 0, setup.stdout[-2000:] + setup.stderr[-4000:]
    assert "imports ok" in setup.stdout

    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("STREAMLIT_", "TASKFAIR_"))},
        **_env(),
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "VIRTUAL_ENV": str(venv),
        # The image's bundle is /app/models/demo; here the session's tiny bundle.
        "TASKFAIR_BUNDLE": str(tiny_bundle),
        "STREAMLIT_SERVER_PORT": str(port),
        # Loopback only in a test; the image listens on every interface.
        "STREAMLIT_SERVER_ADDRESS": "127.0.0.1",
    }
    cmd = json.loads(dict(_instructions())["CMD"])
    cmd[0] = str(venv / "bin" / cmd[0])  # the venv's streamlit, as PATH gives it in the image
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline, status = time.monotonic() + START_TIMEOUT, None
            while time.monotonic() < deadline and status != 200:
                assert proc.poll() is None, log.read_text()[-3000:]
                with contextlib.suppress(OSError):
                    status, body = _get(f"http://127.0.0.1:{port}/_stcore/health")
                time.sleep(0.5)
            assert status == 200, f"no health within {START_TIMEOUT} s: {log.read_text()[-3000:]}"
            assert body.strip() == "ok"
            # The image's HEALTHCHECK command, with the venv's python.
            health = subprocess.run(
                [str(venv / "bin" / "python"), "docker/healthcheck.py"],
                cwd=ROOT,
                env=env,
                timeout=30,
            )
            assert health.returncode == 0
            status, page = _get(f"http://127.0.0.1:{port}/")
            assert status == 200 and "<title" in page.lower()
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=20)
    text = log.read_text()
    assert "Traceback" not in text, text[-3000:]
    # Stopped: the health check now fails, as Docker would see it.
    assert (
        subprocess.run(
            [str(venv / "bin" / "python"), "docker/healthcheck.py"], cwd=ROOT, env=env, timeout=30
        ).returncode
        == 1
    )

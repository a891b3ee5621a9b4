#!/usr/bin/env bash
# The hosted image's build steps, kept in one script so that CI runs exactly what the
# Dockerfile runs, in a clean virtual environment, without a Docker engine.
#
#   docker/setup.sh VENV        create VENV and install the runtime requirements into it;
#                               with the library's code present (pyproject.toml and
#                               taskfair/), install it too (not editable) and import
#                               every one of its modules from the installed copy
#
# Run from the project root; running it again on the same VENV installs only what is
# missing (the Dockerfile runs it once before copying the code and once after). Needs
# python3 (3.10+) with venv. Local wheels (a CPU build of torch, say) are taken from
# pip's find-links, e.g. PIP_FIND_LINKS=DIR.
set -euo pipefail
VENV=${1:?usage: docker/setup.sh VENV}
PYTHON=${PYTHON:-python3}

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --no-cache-dir -q -r requirements.txt
if [ -f pyproject.toml ] && [ -d taskfair ]; then
  # requirements.txt above is the pinned install; this adds the library and checks the
  # installed releases against its own ranges (pyproject.toml). Built from a copy of the
  # sources: setuptools' build folder would land in the checkout, and keep old modules.
  src=$(mktemp -d)
  trap 'rm -rf "$src"' EXIT
  cp -r pyproject.toml README.md taskfair "$src/"
  "$VENV/bin/python" -m pip install --no-cache-dir -q "${src}[app,vision]"
fi
# What the server never runs, removed for a smaller image: the packages' test suites,
# C/C++ headers, and torch's test programs and protobuf compiler.
site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
find "$site" -mindepth 2 -type d \( -name tests -o -name test \) -prune -exec rm -rf {} +
find "$site" -mindepth 2 -maxdepth 2 -type d -name include -prune -exec rm -rf {} +
if [ -d "$site/torch/bin" ]; then
  find "$site/torch/bin" -maxdepth 1 -type f \( -name 'test_*' -o -name '*Test' -o -name 'protoc*' \) -delete
fi
# Fail the build now, not at the first visitor, if an import is broken. Run from / so
# that the installed copy is imported, not the checkout's folder.
cd /
"$VENV/bin/python" - <<'PY'
import importlib
import importlib.util
import pkgutil

mods = ["streamlit", "fairlearn", "plotly", "safetensors", "transformers", "peft", "PIL"]
if importlib.util.find_spec("taskfair") is not None:
    import taskfair

    mods += [
        m.name
        for m in pkgutil.walk_packages(taskfair.__path__, "taskfair.")
        if not m.name.endswith("__main__")  # the command line itself: it would run
    ]
for mod in mods:
    importlib.import_module(mod)
print(f"image steps: imports ok: {len(mods)} modules:", ", ".join(mods))
PY

#!/usr/bin/env bash
# The hosted image's build steps, kept in one script so that CI runs exactly what the
# Dockerfile runs, in a clean virtual environment, without a Docker engine.
#
#   docker/setup.sh VENV        create VENV and install the runtime requirements into it
#
# Run from the project root. Needs python3 (3.10+) with venv.
set -euo pipefail
VENV=${1:?usage: docker/setup.sh VENV}
PYTHON=${PYTHON:-python3}

"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --no-cache-dir -q -r requirements.txt
# Fail the build now, not at the first visitor, if an import is broken.
# taskfair's own modules are checked too when the code is already in place.
"$VENV/bin/python" - <<'PY'
import importlib, pathlib
mods = ["streamlit", "fairlearn", "plotly", "safetensors", "transformers", "peft", "PIL"]
if pathlib.Path("taskfair").is_dir():
    mods += ["taskfair.models", "taskfair.bundle", "taskfair.sweep", "taskfair.plots"]
for mod in mods:
    importlib.import_module(mod)
print("image steps: imports ok:", ", ".join(mods))
PY

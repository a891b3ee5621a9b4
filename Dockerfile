# The hosted taskfair demo: the dashboard in viewer mode (read-only, no paths from users).
# docs/DEPLOY.md has the whole recipe. CPU by default; local wheels in docker/wheels/ (a
# CPU build of torch, say) are preferred, or pass TORCH_INDEX (below) for torch's CPU-only
# index. For a CUDA host build on a CUDA base with Python 3.10+ and PyPI's torch, e.g.
#   docker build --build-arg BASE_IMAGE=pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime \
#                --build-arg TORCH_INDEX= -t taskfair:cuda .
# The bundle is baked in from models/ at build time (make one first:
#   python -m taskfair export-viewer --bundle models/demo --out models/demo-viewer)
# or mounted at run time:
#   docker run -p 8501:8501 -v $PWD/models/demo-viewer:/app/models/demo:ro taskfair
# Two stages: the first installs (pip, wheels, the library's sources), the second keeps
# only the virtual environment and the dashboard's files.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
# An extra package index for torch, e.g. the index of torch's CPU-only wheels for a far
# smaller CPU image (see docs/DEPLOY.md); empty: PyPI's default wheels.
ARG TORCH_INDEX=
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_FIND_LINKS=/tmp/wheels
WORKDIR /src
# Dependencies first, so code changes do not reinstall them. The steps are in
# docker/setup.sh, which CI runs into a clean virtual environment (tests/test_docker_steps.py).
COPY docker/wheels/ /tmp/wheels/
COPY requirements.txt ./
COPY docker/setup.sh docker/
RUN PIP_EXTRA_INDEX_URL="$TORCH_INDEX" bash docker/setup.sh /opt/venv
# Then the library itself, installed (not editable) into the same environment; then the
# installer goes (the image installs nothing at run time).
COPY pyproject.toml README.md ./
COPY taskfair taskfair
RUN PIP_EXTRA_INDEX_URL="$TORCH_INDEX" bash docker/setup.sh /opt/venv \
 && /opt/venv/bin/python -m pip uninstall -q -y pip setuptools

FROM ${BASE_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    TASKFAIR_MODE=viewer \
    TASKFAIR_BUNDLE=/app/models/demo \
    STREAMLIT_SERVER_PORT=8501 \
    STREAMLIT_SERVER_ADDRESS=0.0.0.0 \
    STREAMLIT_CLIENT_SHOW_ERROR_DETAILS=none \
    PATH=/opt/venv/bin:$PATH
RUN useradd --create-home --uid 10001 taskfair
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# The dashboard's files only (the library is in /opt/venv); owned by root, so the
# server, running as taskfair, cannot change them.
COPY app.py ./
COPY dashboard dashboard
COPY .streamlit .streamlit
COPY docker/healthcheck.py docker/
COPY models models
RUN python -c "import dashboard.auth, dashboard.cache"
USER taskfair

EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=6s --start-period=60s --retries=3 \
    CMD ["python", "docker/healthcheck.py"]
# Port and address come from STREAMLIT_SERVER_PORT and STREAMLIT_SERVER_ADDRESS (the
# health check reads the port too): -e STREAMLIT_SERVER_ADDRESS=127.0.0.1 on a host network.
CMD ["streamlit", "run", "app.py"]

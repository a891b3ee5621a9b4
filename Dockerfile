# The hosted taskfair demo: the dashboard in viewer mode (read-only, no paths from users).
# docs/DEPLOY.md has the whole recipe. CPU by default; pass TORCH_INDEX (below) for torch's
# CPU-only wheels. For a CUDA host build on a CUDA base with Python 3.10+ and PyPI's torch, e.g.
#   docker build --build-arg BASE_IMAGE=pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime \
#                --build-arg TORCH_INDEX= -t taskfair:cuda .
# The bundle is baked in from models/ at build time (make one first:
#   python -m taskfair export-viewer --bundle models/demo --out models/demo-viewer)
# or mounted at run time:
#   docker run -p 8501:8501 -v $PWD/models/demo-viewer:/app/models/demo:ro taskfair
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
# An extra package index for torch, e.g. the index of torch's CPU-only wheels for a far
# smaller CPU image (see docs/DEPLOY.md); empty: PyPI's default wheels.
ARG TORCH_INDEX=

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    TASKFAIR_MODE=viewer \
    TASKFAIR_BUNDLE=/app/models/demo \
    STREAMLIT_SERVER_PORT=8501 \
    STREAMLIT_CLIENT_SHOW_ERROR_DETAILS=none

WORKDIR /app
# Dependencies first, so code changes do not reinstall them. The steps are in
# docker/setup.sh, which CI runs into a clean virtual environment (tests/test_docker_steps.py).
COPY requirements.txt docker/setup.sh docker/
RUN cp docker/requirements.txt . \
 && PIP_EXTRA_INDEX_URL="$TORCH_INDEX" bash docker/setup.sh /opt/venv \
 && useradd --create-home --uid 10001 taskfair
COPY --chown=taskfair:taskfair . /app
RUN /opt/venv/bin/python -c "import app_auth, app_cache, taskfair.bundle, taskfair.sweep, taskfair.plots"
USER taskfair
ENV PATH=/opt/venv/bin:$PATH

EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=6s --start-period=60s --retries=3 \
    CMD ["python", "docker/healthcheck.py"]
# The port comes from STREAMLIT_SERVER_PORT, which the health check reads too.
CMD ["streamlit", "run", "app.py", "--server.address=0.0.0.0"]

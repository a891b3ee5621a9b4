# The hosted taskfair demo. CPU by default; for a CUDA host build with a CUDA base that
# has Python 3.10+, e.g.
#   docker build --build-arg BASE_IMAGE=pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime -t taskfair:cuda .
# The bundle is baked in from models/ at build time (build it first: `make build-demo`),
# or mounted at run time: docker run -v $PWD/models/demo:/app/models/demo:ro -p 8501:8501 taskfair
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    TASKFAIR_MODE=viewer \
    TASKFAIR_BUNDLE=/app/models/demo \
    STREAMLIT_SERVER_PORT=8501

WORKDIR /app
# Dependencies first, so code changes do not reinstall them.
COPY requirements.txt docker/setup.sh docker/
RUN cp docker/requirements.txt . && bash docker/setup.sh /opt/venv \
 && useradd --create-home --uid 10001 taskfair
COPY --chown=taskfair:taskfair . /app
RUN /opt/venv/bin/python -c "import taskfair.models, taskfair.bundle, taskfair.sweep, taskfair.plots"
USER taskfair
ENV PATH=/opt/venv/bin:$PATH

EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=6s --start-period=60s --retries=3 \
    CMD ["python", "docker/healthcheck.py"]
CMD ["streamlit", "run", "app.py", "--server.address=0.0.0.0", "--server.port=8501"]

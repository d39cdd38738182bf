# tsukeku serving image, compatible with SageMaker real-time endpoints:
# SageMaker runs `docker run IMAGE serve`, expects the server on port 8080 (GET /ping,
# POST /invocations) and unpacks the model artifact (model.tar.gz) into /opt/ml/model.
#
#   docker build -t tsukeku .                                          # CPU
#   docker build -t tsukeku --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu124 .
#   docker run --rm -p 8080:8080 -v "$PWD/model:/opt/ml/model:ro" tsukeku serve
#
# With no /opt/ml/model (and no TSUKEKU_MODELS), the server answers with the tiny offline base;
# PREBUILD_TINY=1 builds that base into the image so the container starts without training it.
FROM python:3.11-slim

ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ARG PREBUILD_TINY=0

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TSUKEKU_HOME=/opt/tsukeku

WORKDIR /opt/program

# torch first, from the index that matches the hardware (CUDA wheels bring their own CUDA
# libraries; the host's driver is enough), so that installing the package does not pull another.
RUN pip install --index-url "${TORCH_INDEX}" torch

COPY pyproject.toml README.md ./
COPY tsukeku ./tsukeku
RUN pip install . \
 && if [ "${PREBUILD_TINY}" = "1" ]; then \
      python -c "from tsukeku.models.tiny import default_base_path; print(default_base_path())"; \
    fi

COPY deploy/serve /usr/local/bin/serve
RUN chmod 0755 /usr/local/bin/serve

EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=300s \
  CMD python -c "import urllib.request as u; u.urlopen('http://127.0.0.1:8080/ping', timeout=4)"

# `docker run IMAGE` and SageMaker's `docker run IMAGE serve` both start the server.
CMD ["serve"]

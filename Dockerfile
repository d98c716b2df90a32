# syntax=docker/dockerfile:1
# The Arcane operator image: `make image` (needs a container engine with BuildKit, e.g. Docker 23+).
#
# Two stages. The builder turns the project into wheels: ours and every dependency, at the versions pinned in
# constraints.txt. The final stage installs those wheels offline (--no-index) on a slim Python, keeps no build tool
# (no compiler, pip, setuptools or wheel) and runs as a numeric non-root user, so Kubernetes can enforce
# runAsNonRoot and the restricted Pod Security profile (see charts/arcane-operator).
# Pin the base by digest in your registry (PYTHON_IMAGE=python:3.11-slim@sha256:...) for reproducible builds.
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
COPY engine/ engine/
COPY kubesim/ kubesim/
COPY arcane/ arcane/
# Our wheel and one per dependency, at the versions pinned in constraints.txt.
RUN pip wheel --wheel-dir /wheels --constraint constraints.txt .

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="arcane-operator" \
      org.opencontainers.image.description="Arcane: a Kubernetes operator for data streams, driven by YAML rules" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
# The wheels are bind-mounted from the builder, so they never become a layer of this image. pip compiles the
# bytecode at install time (the root filesystem is read-only at run time), then pip, setuptools and wheel leave.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    --mount=type=bind,source=constraints.txt,target=/tmp/constraints.txt \
    pip install --no-index --find-links /wheels --constraint /tmp/constraints.txt arcane-operator \
    && pip uninstall --yes setuptools wheel pip \
    && groupadd --system --gid 10001 arcane \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin arcane
# The shipped rules, so that the image runs on its own; the chart mounts its rules ConfigMap over this directory.
COPY --chown=0:0 rules/ /etc/arcane/rules/
USER 10001:10001
WORKDIR /tmp
# 8888: health (/healthz, /readyz, /startup); 9090: Prometheus metrics.
EXPOSE 8888 9090
ENTRYPOINT ["arcane", "run"]
CMD ["--rules", "/etc/arcane/rules"]

# One model version as an OCI image: `rolloutlab models containerize VERSION` builds it.
#
# The build context (made by rolloutlab.zoo.container) holds `bento/`: the version's bento from the
# lab's store, with its model under bento/models/ — everything the server needs, so the container
# starts with no network. The image runs what the Kubernetes Deployment expects (rolloutlab.k8s_names):
# `bentoml serve` on port 3000, probes /livez and /readyz, as the non-root user 1034.
#
# BASE_IMAGE needs Python 3.11 with the venv module (Debian's python3 + python3-venv, or python:3.11-slim).
# Without registry access build a local one: scripts/build-base-image.sh (debootstrap + docker import).
ARG BASE_IMAGE=rolloutlab-base:bookworm-py311
FROM ${BASE_IMAGE}

ENV LANG=C.UTF-8 \
    PYTHONUNBUFFERED=1 \
    BENTOML_HOME=/home/bentoml \
    BENTO_PATH=/home/bentoml/bento \
    BENTOML_DO_NOT_TRACK=true \
    BENTOML_PORT=3000 \
    VIRTUAL_ENV=/app/.venv \
    PATH=/app/.venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

RUN groupadd --gid 1034 bentoml \
 && useradd --uid 1034 --gid 1034 --create-home --home-dir /home/bentoml --shell /bin/bash bentoml

# Requirements first: every version pins the same packages, so this layer is built once and shared.
COPY bento/env/python/requirements.txt /tmp/requirements.txt
RUN python3 -m venv /app/.venv \
 && /app/.venv/bin/pip install --no-cache-dir --disable-pip-version-check --no-compile -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

# The bento is read-only for the server user; BentoML writes only under $BENTOML_HOME (metrics files).
COPY bento /home/bentoml/bento

USER 1034:1034
WORKDIR /home/bentoml/bento
EXPOSE 3000
HEALTHCHECK --interval=5s --timeout=2s --start-period=60s \
    CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:3000/readyz', timeout=2)"]
ENTRYPOINT ["bash", "/home/bentoml/bento/env/docker/entrypoint.sh"]
CMD []

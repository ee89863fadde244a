# prowlet: one container, serves webhooks on :8080.
#   docker build -t prowlet .
#   docker run -p 8080:8080 -e GITHUB_TOKEN -e GITHUB_WEBHOOK_SECRET prowlet
# Pinned by digest: the same bytes on every build.  The digest is that of
# python:3.11.10-slim-bookworm as recorded by a Renovate-maintained public digest file
# (nalabelle/build images/digests.Dockerfile); it could not be pulled and checked from the machine this
# was written on (no Docker there) -- `docker build` refuses a digest that does not match.  To move on:
# docker buildx imagetools inspect python:3.11-slim, and put its digest here.
FROM python:3.11.10-slim-bookworm@sha256:5148c0e4bbb64271bca1d3322360ebf4bfb7564507ae32dd639322e4952a6b16

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PROWLET_DATA_DIR=/data \
    PROWLET_PUBLIC_URL=http://localhost:8080 \
    PROWLET_LOG_FORMAT=json

# git: the built-in runner checks out PR heads; tini: reaps processes jobs leave behind
# (prowlet would otherwise be PID 1 and collect zombies); bubblewrap: the sandbox built-in jobs run
# in (it needs user namespaces: run with a seccomp profile that allows them, or jobs are refused).
RUN apt-get update \
    && apt-get install -y --no-install-recommends git tini bubblewrap \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# The locked versions first (a layer that changes only with the lock), then prowlet itself
# without resolving again: what runs is exactly what requirements.lock says.
COPY requirements.lock ./
RUN pip install -r requirements.lock
COPY pyproject.toml README.md config.yaml ./
COPY bot ./bot
COPY plugins ./plugins
RUN pip install --no-deps . \
    && pip check \
    && useradd --system --uid 10001 --home-dir /data --create-home prowlet

USER prowlet
EXPOSE 8080
# Liveness (/healthz): the process answers.  Readiness is /readyz, for load balancers and Kubernetes.
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"]
# Built-in defaults: every core plugin for every repository.  Mount a file and add
# "--config /etc/prowlet/config.yaml" to customise.
ENTRYPOINT ["tini", "--"]
CMD ["prowlet", "serve", "--host", "0.0.0.0", "--port", "8080"]

# prowlet: one container, serves webhooks on :8080.
#   docker build -t prowlet .
#   docker run -p 8080:8080 -e GITHUB_TOKEN -e GITHUB_WEBHOOK_SECRET prowlet
FROM python:3.11-slim

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
COPY pyproject.toml README.md config.yaml ./
COPY bot ./bot
COPY plugins ./plugins
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /data --create-home prowlet

USER prowlet
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"
# Built-in defaults: every core plugin for every repository.  Mount a file and add
# "--config /etc/prowlet/config.yaml" to customise.
ENTRYPOINT ["tini", "--"]
CMD ["prowlet", "serve", "--host", "0.0.0.0", "--port", "8080"]

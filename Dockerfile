# Multi-stage: build wheels with the compilers, run on a slim image as a non-root user.
FROM python:3.11-slim AS build
WORKDIR /src
RUN pip install --no-cache-dir --upgrade pip wheel
COPY pyproject.toml README.md ./
COPY app ./app
COPY handlers ./handlers
COPY knowledge ./knowledge
COPY flows ./flows
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    APP_ENV=prod \
    KNOWLEDGE_DIR=/srv/wxbot/knowledge \
    FLOWS_DIR=/srv/wxbot/flows \
    DATABASE_URL=sqlite:////srv/wxbot/data/wxbot.db \
    TURNLOG_SPOOL_DIR=/srv/wxbot/data/spool \
    PROMETHEUS_MULTIPROC_DIR=/tmp/wxbot-metrics \
    WORKERS=2
RUN useradd --create-home --uid 10001 wxbot
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
WORKDIR /srv/wxbot
# The editable content (FAQ and flows YAML) lives outside the package so it can be mounted.
COPY --chown=wxbot:wxbot knowledge ./knowledge
COPY --chown=wxbot:wxbot flows ./flows
COPY --chown=wxbot:wxbot alembic.ini ./alembic.ini
COPY --chown=wxbot:wxbot migrations ./migrations
RUN mkdir -p data && chown wxbot:wxbot data
USER wxbot
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"
# Migrations run before the server starts; several containers may run them at once safely
# (alembic takes a lock on PostgreSQL and the migration is idempotent).
CMD ["sh", "-c", "rm -rf \"$PROMETHEUS_MULTIPROC_DIR\" && mkdir -p \"$PROMETHEUS_MULTIPROC_DIR\" && wxbot db upgrade && exec wxbot serve --host 0.0.0.0 --port 8000 --workers \"$WORKERS\""]

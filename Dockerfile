# ai-worker image: one image for the unified worker, the legacy workers and migrations.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /app
RUN useradd --create-home --uid 10001 worker

# dependencies first, so code changes do not reinstall them
COPY pyproject.toml README.md ./
COPY services ./services
COPY app ./app
RUN pip install --upgrade pip && pip install -e .

COPY alembic.ini ./
COPY migrations ./migrations
COPY deploy ./deploy

USER worker
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["ai-worker", "check", "--kind", "any", "--local"]
CMD ["python", "-m", "arq", "app.workers.unified_worker.UnifiedWorkerSettings"]

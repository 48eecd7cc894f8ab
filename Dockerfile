# Production image: gunicorn web process or django-q2 worker (same image, different command).
FROM python:3.12-slim-bookworm AS build

# Build-time libraries for mysqlclient (compiled against libmariadb, found through pkg-config).
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential pkg-config libmariadb-dev \
 && rm -rf /var/lib/apt/lists/*
COPY requirements.txt /tmp/requirements.txt
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --upgrade pip \
 && /opt/venv/bin/pip install --no-cache-dir -r /tmp/requirements.txt

FROM python:3.12-slim-bookworm

# Runtime libraries: libmariadb3 for mysqlclient; Pango/HarfBuzz/fonts for WeasyPrint invoice PDFs.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libmariadb3 libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b libharfbuzz-subset0 \
      fontconfig fonts-dejavu-core curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --uid 10001 app

ENV PATH="/opt/venv/bin:$PATH" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_ENV=production

COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --chown=app:app . /app

# collectstatic runs with the production storage (hashed, compressed files for whitenoise); the
# placeholder values below exist only for this build step and never reach a running container.
RUN SECRET_KEY=build-only-placeholder ALLOWED_HOSTS=localhost DATABASE_URL=sqlite:////tmp/build.sqlite3 \
    FIELD_ENCRYPTION_KEYS=YnVpbGQtb25seS1wbGFjZWhvbGRlci1ub3QtYS1rZXk= \
    python manage.py collectstatic --noinput \
 && mkdir -p /app/media && chown app:app /app/media

USER app
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
  CMD curl -fsS -H "Host: ${HEALTHCHECK_HOST:-localhost}" http://127.0.0.1:8000/healthz || exit 1
CMD ["gunicorn", "core.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--worker-class", "gthread", "--threads", "4", "--timeout", "60", "--access-logfile", "-"]

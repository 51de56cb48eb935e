# syntax=docker/dockerfile:1
# The webmail image: one image for every process (web, worker, beat); the command picks one.
#   docker build -t webmail .
#   docker run --env-file .env webmail                          # gunicorn on :8000
#   docker run --env-file .env webmail celery -A webmail worker -l info
# See docs/operations.md.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- build: dependencies into a virtualenv, translations compiled, static files collected ----
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH
# gettext only for compilemessages; it stays in this stage.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gettext \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
WORKDIR /app
# The dependencies come from pyproject.toml (`pip install .`); the app itself then runs from
# /app, where templates/, static/ and locale/ sit beside the packages, so the installed copy
# of the packages is removed again, and so are pip and setuptools (not needed to run).
COPY pyproject.toml ./
COPY webmail ./webmail
COPY accounts ./accounts
RUN pip install . \
    && pip uninstall -y webmail \
    && pip uninstall -y pip setuptools
COPY . .
# A throw-away key and database: collectstatic and compilemessages read the settings, which
# refuse to load without a SECRET_KEY when DEBUG is off. Nothing of them ends up in the image.
RUN export DEBUG=0 SECRET_KEY=build-only-dummy-key-not-used-at-run-time-0123456789abcdef \
        DATABASE_URL=sqlite:////tmp/build.sqlite3 WEBMAIL_VAR_DIR=/tmp/build \
        STATIC_ROOT=/app/staticfiles CACHE_URL=locmem:// \
    && if [ -d locale ]; then python manage.py compilemessages --ignore=.venv; fi \
    && python manage.py collectstatic --noinput \
    && rm -rf /tmp/build /tmp/build.sqlite3 \
    && find /app -name '__pycache__' -prune -exec rm -rf {} +

# ---- run: the slim base, the virtualenv, the app; no compilers, no apt lists, not root ----
FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    STATIC_ROOT=/app/staticfiles \
    WEBMAIL_VAR_DIR=/var/lib/webmail
RUN groupadd --system --gid 10001 webmail \
    && useradd --system --uid 10001 --gid webmail --home-dir /var/lib/webmail \
        --shell /usr/sbin/nologin webmail \
    && mkdir -p /var/lib/webmail \
    && chown webmail:webmail /var/lib/webmail
COPY --from=build /opt/venv /opt/venv
# Code and static files belong to root: the app cannot rewrite itself.
COPY --from=build /app /app
WORKDIR /app
USER webmail:webmail
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "/app/docker/healthcheck.py"]
ENTRYPOINT ["/app/docker/entrypoint.sh"]
# Threads serve the many waits on IMAP; processes give CPU parallelism (docs/operations.md).
CMD ["gunicorn", "webmail.wsgi:application", "-b", "0.0.0.0:8000", \
     "--workers", "2", "--threads", "8", "--timeout", "60", "--graceful-timeout", "30"]

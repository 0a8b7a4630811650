# syntax=docker/dockerfile:1
# Build: install the locked dependencies into a virtualenv; run: a slim image, non-root.
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /srv
RUN python -m venv /opt/venv
COPY requirements.lock ./
RUN /opt/venv/bin/pip install --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY app ./app
COPY migrations ./migrations
RUN /opt/venv/bin/pip install --no-deps .

FROM python:3.11-slim AS runtime
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 BNPL_ENV=production
RUN useradd --system --uid 10001 --home-dir /srv bnpl
# The wheel carries app/ and migrations/ (see [tool.hatch.build]); nothing else is needed.
COPY --from=build /opt/venv /opt/venv
WORKDIR /srv
USER bnpl
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status == 200 else 1)"]
CMD ["bnpl", "serve", "--host", "0.0.0.0", "--port", "8000"]

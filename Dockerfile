# Agora: gunicorn (sync workers, persistent DB connections) behind a load balancer.
# Build: docker build -t agora .   Run: docker run -e SECRET_KEY=... -e VAULT_KEYS=... \
#   -e DATABASE_URL=postgres://... -e ALLOWED_HOSTS=agora.example -p 8000:8000 agora

FROM python:3.13-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY marketplace marketplace
COPY accounts accounts
COPY listings listings
COPY orders orders
COPY tokens_vault tokens_vault
COPY audit audit
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.13-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DEBUG=false
RUN useradd --create-home --uid 10001 agora
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/* && rm -rf /wheels
WORKDIR /app
COPY --chown=agora:agora . .
# collectstatic loads settings, which demand keys: give it throwaway ones that are not kept.
RUN SECRET_KEY=collectstatic-only \
    VAULT_KEYS="build:$(python -c 'import base64,os;print(base64.b64encode(os.urandom(32)).decode())')" \
    python manage.py collectstatic --noinput
USER agora
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
CMD ["sh", "-c", "python manage.py migrate --noinput && exec gunicorn marketplace.wsgi:application --bind 0.0.0.0:8000 --workers ${WEB_CONCURRENCY:-4} --access-logfile -"]

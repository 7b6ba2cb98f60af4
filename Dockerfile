# Agora's production image: gunicorn (sync workers, settings in gunicorn.conf.py) behind a load
# balancer, whitenoise serving the static files collected at build time, an unprivileged user.
#
#   Build:    docker build -t agora .
#   Migrate:  once per release, before the new containers start:
#               docker run --rm --env-file agora.env agora python manage.py migrate --noinput
#             Containers never migrate on start: replicas starting together would run the same
#             migrations concurrently (Django takes no lock), and a rolling deploy would apply
#             them whenever the first new container happened to start.
#   Run:      docker run --env-file agora.env -p 8000:8000 --stop-timeout 30 agora
#             agora.env holds SECRET_KEY, VAULT_KEYS, DATABASE_URL, ALLOWED_HOSTS, REDIS_URL,
#             the Stripe keys... (README's table). --stop-timeout 30 lets in-flight requests
#             finish (gunicorn's graceful_timeout is 25 s; Docker's default wait is 10 s).
#   gunicorn: PORT (8000), WEB_CONCURRENCY (2 x CPUs + 1, at most 12), FORWARDED_ALLOW_IPS
#             (proxies trusted to say https); GUNICORN_CMD_ARGS overrides anything else,
#             e.g. GUNICORN_CMD_ARGS="--timeout 90".

# --- Build: dependencies in a virtualenv, the app's code, static files collected -------------
FROM python:3.13-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /app
# The locked dependencies alone (versions and hashes), so a change to the code reuses this layer.
COPY requirements/app.txt /tmp/requirements.txt
RUN pip install --require-hashes -r /tmp/requirements.txt
# Every app package (the list in pyproject.toml), the project's templates and static files.
COPY manage.py gunicorn.conf.py ./
COPY core core
COPY marketplace marketplace
COPY accounts accounts
COPY listings listings
COPY orders orders
COPY tokens_vault tokens_vault
COPY audit audit
COPY templates templates
COPY static static
# collectstatic loads the settings, which demand keys: throwaway ones, never kept in the image.
# Bytecode is compiled here because the running user cannot write next to the code.
RUN SECRET_KEY=collectstatic-only \
    VAULT_KEYS="$(python -c 'from tokens_vault.keyring import generate_key_entry; print(generate_key_entry("build"))')" \
    python manage.py collectstatic --noinput \
    && python -m compileall -q --invalidation-mode checked-hash \
        core marketplace accounts listings orders tokens_vault audit

# --- Run: the virtualenv and /app, owned by root and read-only to the app's user --------------
FROM python:3.13-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/opt/venv/bin:$PATH DEBUG=false
RUN groupadd --system --gid 10001 agora \
    && useradd --system --uid 10001 --gid agora --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin agora
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
WORKDIR /app
# Numeric, so an orchestrator's "must not run as root" check can verify it.
USER 10001:10001
EXPOSE 8000
# /healthz through gunicorn, with the first ALLOWED_HOSTS name as Host (a bare 127.0.0.1 would
# get Django's 400 in production). http.client, not urllib, so no HTTP proxy setting applies.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import http.client, os; host = os.environ.get('ALLOWED_HOSTS', 'localhost').split(',')[0].strip().lstrip('.'); conn = http.client.HTTPConnection('127.0.0.1', int(os.environ.get('PORT') or 8000), timeout=4); conn.request('GET', '/healthz', headers={'Host': host if host not in ('', '*') else 'localhost'}); raise SystemExit(conn.getresponse().status != 200)"]
# Exec form: gunicorn is PID 1 and receives the SIGTERM of `docker stop` itself. The same image
# runs the other processes of the Procfile by its command: a job worker with
# `docker run --no-healthcheck IMAGE python manage.py qcluster` (it serves no /healthz), the
# release step with `python manage.py migrate --noinput`.
CMD ["gunicorn", "-c", "gunicorn.conf.py", "marketplace.wsgi:application"]

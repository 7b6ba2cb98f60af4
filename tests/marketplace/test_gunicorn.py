"""§10: the production server, as the Dockerfile starts it, without Docker.

A real gunicorn runs `-c gunicorn.conf.py marketplace.wsgi:application` under production
settings (DEBUG off, generated keys, a migrated SQLite file, static files collected into a
temporary STATIC_ROOT) and must answer the probes, serve static files through whitenoise and
stop cleanly on SIGTERM. The configuration's values are read through gunicorn's own loader, and
the Dockerfile is checked for what a build would only reveal in production.
"""

import fcntl
import gzip
import http.client
import json
import os
import re
import runpy
import secrets
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.manage_process import REPO_ROOT, child_environment, run_manage
from tests.workers import free_port
from tokens_vault.keyring import generate_key_entry

pytestmark = pytest.mark.usefixtures("sqlite_pass_only")

CONFIG = REPO_ROOT / "gunicorn.conf.py"
DOCKERFILE = REPO_ROOT / "Dockerfile"
APP = "marketplace.wsgi:application"
# Variables gunicorn.conf.py (or gunicorn itself) reads: a developer's shell must not leak them
# into a child whose configuration a test asserts.
GUNICORN_VARIABLES = {
    "HOST",
    "PORT",
    "WEB_CONCURRENCY",
    "FORWARDED_ALLOW_IPS",
    "GUNICORN_CMD_ARGS",
    "LOG_LEVEL",
    "STATIC_ROOT",
}


def _environment(env: dict[str, str]) -> dict[str, str]:
    child_env = child_environment(env)
    for name in GUNICORN_VARIABLES - env.keys():
        child_env.pop(name, None)
    return child_env


@dataclass(frozen=True)
class Deployment:
    env: dict[str, str]
    static_root: Path


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    """Production settings over a migrated SQLite file and freshly collected static files."""
    root = tmp_path_factory.mktemp("deployment")
    env = {
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "VAULT_KEYS": generate_key_entry("prod1"),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": f"sqlite:///{root / 'db.sqlite3'}",
    }
    migrated = run_manage("migrate", "--noinput", env=env)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    static_root = _collected_static(tmp_path_factory, env)
    return Deployment(env={**env, "STATIC_ROOT": str(static_root)}, static_root=static_root)


def _collected_static(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Path:
    """collectstatic's output, made once for the whole run: compressing every file is the
    slowest setup of the suite, and each pytest-xdist process would otherwise repeat it. The
    processes share the run's base folder (each has its own folder in it); a lock lets the
    first one collect."""
    shared = tmp_path_factory.getbasetemp()
    if "PYTEST_XDIST_WORKER" in os.environ:
        shared = shared.parent
    static_root = shared / "deployment-staticfiles"
    with (shared / "deployment-staticfiles.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (static_root / "staticfiles.json").exists():
            collect = run_manage(
                "collectstatic", "--noinput", env={**env, "STATIC_ROOT": str(static_root)}
            )
            assert collect.returncode == 0, collect.stdout + collect.stderr
    assert (static_root / "staticfiles.json").exists()
    return static_root


# --- A running server --------------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _get(
    port: int, path: str, headers: dict[str, str] | None = None
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """One GET over plain http.client: no proxy settings, no decompression, nothing hidden."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL to the whole process group: no worker may outlive a test."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
    # The group gunicorn leads (start_new_session); ProcessLookupError: all of it has exited.
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


@contextmanager
def _gunicorn(deployment: Deployment, log: Path, **env: str) -> Iterator[Server]:
    port = free_port()
    server_env = {
        **deployment.env,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
        **env,
    }
    with log.open("wb") as log_file:
        process = subprocess.Popen(  # noqa: S603 - gunicorn from this venv, fixed arguments
            [sys.executable, "-m", "gunicorn", "-c", str(CONFIG), APP],
            cwd=REPO_ROOT,
            env=_environment(server_env),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(process=process, port=port, log=log)
    try:
        deadline = time.monotonic() + 15
        while True:
            assert process.poll() is None, f"gunicorn exited:\n{server.output()}"
            try:
                if _get(port, "/healthz")[0] == 200:
                    break
            except OSError:
                pass  # not listening yet
            assert time.monotonic() < deadline, f"gunicorn never answered:\n{server.output()}"
            time.sleep(0.05)
        yield server
    finally:
        _stop(process)


@pytest.fixture(scope="module")
def server(deployment: Deployment, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with _gunicorn(deployment, tmp_path_factory.mktemp("gunicorn") / "server.log") as running:
        yield running


def _children(pid: int) -> set[int]:
    """Processes whose parent is `pid`, read from /proc (Linux)."""
    children = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # exited while we looked
        # Field 2, the command name, may contain spaces: the fields resume after its last ")".
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            children.add(int(entry.name))
    return children


# --- Probes and static files ---------------------------------------------------------------------


def test_gunicorn_answers_the_health_probes(server: Server) -> None:
    status, headers, body = _get(server.port, "/healthz")
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    assert headers["Server"].startswith("gunicorn")

    status, _, body = _get(server.port, "/readyz")
    assert (status, json.loads(body)) == (200, {"status": "ok", "database": "up", "cache": "up"})


def _static_name(deployment: Deployment, name: str) -> tuple[str, bool]:
    """The name pages link to: hashed when the storage keeps a manifest (CompressedManifest…)."""
    manifest = deployment.static_root / "staticfiles.json"
    if not manifest.exists():
        return name, False
    return json.loads(manifest.read_text())["paths"][name], True


@pytest.mark.parametrize("name", ["css/agora.css", "admin/css/base.css"])
def test_whitenoise_serves_collected_static_files(
    server: Server, deployment: Deployment, name: str
) -> None:
    served_name, hashed = _static_name(deployment, name)
    status, headers, body = _get(server.port, f"/static/{served_name}")

    assert status == 200, body[:200]
    assert body == (deployment.static_root / served_name).read_bytes()
    assert headers["Content-Type"].startswith("text/css")
    assert "Content-Encoding" not in headers  # nobody asked for a compressed variant
    if hashed:
        # A hashed name never changes content: browsers may keep it for good.
        assert headers["Cache-Control"] == "max-age=315360000, public, immutable"
    else:
        # An unhashed name can change with a deploy: whitenoise's short production default.
        assert headers["Cache-Control"] == "max-age=60, public"


def test_pages_link_static_files_that_gunicorn_serves(server: Server) -> None:
    status, _, page = _get(server.port, "/")
    assert status == 200, page[:500]
    links = re.findall(r'(?:href|src)="(/static/[^"]+)"', page.decode())
    assert any("agora" in link and link.endswith(".css") for link in links), links
    assert any("agora" in link and link.endswith(".js") for link in links), links
    for link in links:
        assert _get(server.port, link)[0] == 200, link


@pytest.mark.parametrize(("encoding", "suffix"), [("gzip", ".gz"), ("br", ".br")])
def test_compressed_variants_when_the_client_accepts_them(
    server: Server, deployment: Deployment, encoding: str, suffix: str
) -> None:
    served_name, _ = _static_name(deployment, "css/agora.css")
    original = deployment.static_root / served_name
    variant = original.with_name(original.name + suffix)
    if encoding == "br" and not variant.exists():
        pytest.skip("no brotli variants: the brotli package is not installed")
    assert variant.exists(), "collectstatic wrote no gzip variant (CompressedStaticFilesStorage)"

    status, headers, body = _get(
        server.port, f"/static/{served_name}", {"Accept-Encoding": f"{encoding}, identity"}
    )

    assert status == 200
    assert headers["Content-Encoding"] == encoding
    assert "Accept-Encoding" in headers["Vary"]
    assert body == variant.read_bytes()
    if encoding == "gzip":
        assert gzip.decompress(body) == original.read_bytes()


def test_the_docker_health_check_passes_against_gunicorn(server: Server) -> None:
    """The HEALTHCHECK command, run as Docker would, sends the first ALLOWED_HOSTS name."""
    probe = _instruction_json(_final_stage(), "HEALTHCHECK")
    env = {"PORT": str(server.port), "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"}

    def run_probe(allowed_hosts: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(  # noqa: S603 - the Dockerfile's own probe
            probe,
            env={**env, "ALLOWED_HOSTS": allowed_hosts},
            capture_output=True,
            timeout=10,
            check=False,
        )

    healthy = run_probe("127.0.0.1,localhost")
    # A Host the server does not serve: Django answers 400, and the probe must report that.
    unhealthy = run_probe("agora.example")

    assert healthy.returncode == 0, healthy.stderr
    assert unhealthy.returncode != 0


# --- Workers and shutdown ----------------------------------------------------------------------


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="counts workers through /proc")
def test_sigterm_stops_master_and_workers_within_seconds(
    deployment: Deployment, tmp_path: Path
) -> None:
    with _gunicorn(deployment, tmp_path / "server.log") as server:
        deadline = time.monotonic() + 5
        while len(workers := _children(server.process.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(workers) == 2, server.output()  # WEB_CONCURRENCY=2

        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        returncode = server.process.wait(timeout=10)
        elapsed = time.monotonic() - started

        assert returncode == 0, server.output()
        assert elapsed < 5, server.output()
        assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]
        assert "Traceback" not in server.output()


# --- The configuration, read through gunicorn's own loader -----------------------------------

# Prints the named settings as gunicorn resolved them (file, then GUNICORN_CMD_ARGS), and the
# worker count the file's own rule gives on this machine.
LOAD_CONFIG = """\
import json, runpy, sys
from gunicorn.app.wsgiapp import WSGIApplication

names = sys.argv[1:]
sys.argv = ["gunicorn", "-c", "gunicorn.conf.py", "marketplace.wsgi:application"]
cfg = WSGIApplication("%(prog)s [OPTIONS] [APP_MODULE]").cfg
values = {name: cfg.settings[name].get() for name in names}
values["worker_class"] = cfg.worker_class_str
config = runpy.run_path("gunicorn.conf.py")
values["expected_default_workers"] = config["_default_workers"](config["_usable_cpus"]())
print(json.dumps(values))
"""
SETTINGS = [
    "bind",
    "workers",
    "threads",
    "timeout",
    "graceful_timeout",
    "keepalive",
    "max_requests",
    "max_requests_jitter",
    "preload_app",
    "accesslog",
    "errorlog",
    "forwarded_allow_ips",
    "control_socket_disable",
]


def _python(script: str, *args: str, env: dict[str, str]) -> str:
    """What `script` prints, run by this venv's Python in the repository with only `env` set."""
    result = subprocess.run(  # noqa: S603 - this venv's Python on a fixed script
        [sys.executable, "-c", script, *args],
        cwd=REPO_ROOT,
        env=_environment(env),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _load_config(**env: str) -> dict[str, Any]:
    """gunicorn.conf.py as gunicorn reads it, in a process that has only `env` set."""
    values: dict[str, Any] = json.loads(_python(LOAD_CONFIG, *SETTINGS, env=env))
    return values


def test_bind_and_workers_come_from_the_environment() -> None:
    config = _load_config(HOST="127.0.0.1", PORT="9123", WEB_CONCURRENCY="3")
    assert config["bind"] == ["127.0.0.1:9123"]
    assert config["workers"] == 3


def test_defaults_listen_everywhere_on_8000_with_cores_based_workers() -> None:
    config = _load_config()
    assert config["bind"] == ["0.0.0.0:8000"]
    assert config["workers"] == config["expected_default_workers"]


def test_the_measured_model_and_its_safety_nets() -> None:
    config = _load_config()
    assert config["worker_class"] == "sync"
    assert config["threads"] == 1  # more would silently turn sync into gthread
    assert config["preload_app"] is True
    assert config["accesslog"] is None  # the app logs each request itself, as JSON
    assert config["errorlog"] == "-"
    assert config["max_requests"] == 50000
    assert config["max_requests_jitter"] == 5000
    assert config["graceful_timeout"] < config["timeout"] == 45
    assert config["forwarded_allow_ips"] == ["127.0.0.1", "::1"]
    assert config["control_socket_disable"] is True


def test_proxies_and_overrides_come_from_the_environment() -> None:
    config = _load_config(FORWARDED_ALLOW_IPS="10.0.0.0/8", GUNICORN_CMD_ARGS="--timeout 90")
    assert config["forwarded_allow_ips"] == ["10.0.0.0/8"]
    assert config["timeout"] == 90


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("WEB_CONCURRENCY", "0", "WEB_CONCURRENCY must be between 1 and 64, not 0"),
        ("PORT", "http", "PORT must be a whole number, not 'http'"),
    ],
)
def test_a_bad_value_stops_gunicorn_with_its_name(name: str, value: str, message: str) -> None:
    result = subprocess.run(  # noqa: S603 - gunicorn from this venv, fixed arguments
        [sys.executable, "-m", "gunicorn", "-c", str(CONFIG), "--check-config", APP],
        cwd=REPO_ROOT,
        env=_environment({name: value}),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0
    assert message in result.stderr


@pytest.fixture
def config_module(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    for name in GUNICORN_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return runpy.run_path(str(CONFIG))


def test_every_setting_in_the_file_is_one_gunicorn_knows(config_module: dict[str, object]) -> None:
    """gunicorn ignores unknown names in a config file: a misspelt setting would do nothing."""
    from gunicorn.config import KNOWN_SETTINGS

    known = {setting.name for setting in KNOWN_SETTINGS}
    defined = {
        name
        for name, value in config_module.items()
        if name.islower()
        and not name.startswith("_")
        and not isinstance(value, type)
        and type(value).__name__ != "module"
    }
    assert defined - known == set()
    assert {"bind", "workers", "preload_app", "pre_fork"} <= defined


@pytest.mark.parametrize(("cpus", "workers"), [(1, 3), (2, 5), (4, 9), (5, 11), (6, 12), (64, 12)])
def test_default_workers_are_twice_the_cpus_plus_one_capped(
    config_module: dict[str, object], cpus: int, workers: int
) -> None:
    default_workers = config_module["_default_workers"]
    assert callable(default_workers)
    assert default_workers(cpus) == workers


def test_pre_fork_closes_the_masters_database_connections(deployment: Deployment) -> None:
    """preload_app is safe only if no worker inherits a connection the master opened."""
    script = (
        "import runpy, django; django.setup()\n"
        "from django.db import connection\n"
        "connection.ensure_connection(); assert connection.connection is not None\n"
        "runpy.run_path('gunicorn.conf.py')['pre_fork'](None, None)\n"
        "print(connection.connection is None)\n"
    )
    result = subprocess.run(  # noqa: S603 - this venv's Python on a fixed script
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        env=_environment(deployment.env),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


# --- The Dockerfile ------------------------------------------------------------------------------


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    logical, current = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1].strip()) for text in logical]


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for instruction in _instructions():
        if instruction[0] == "FROM":
            stages.append([])
        stages[-1].append(instruction)
    return stages


def _final_stage() -> list[tuple[str, str]]:
    return _stages()[-1]


def _instruction_json(stage: list[tuple[str, str]], name: str) -> list[str]:
    """The exec-form (JSON) command of CMD, or of HEALTHCHECK's CMD."""
    (arguments,) = [args for instruction, args in stage if instruction == name]
    command: list[str] = json.loads(arguments[arguments.index("[") :])
    return command


def test_the_build_stage_copies_every_app_and_the_project_files() -> None:
    build = _stages()[0]
    copied = {
        source.rstrip("/")
        for instruction, args in build
        if instruction == "COPY" and not args.startswith("--from")
        for source in args.split()[:-1]
    }
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    packages = {
        p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    apps = {path.parent.name for path in REPO_ROOT.glob("*/apps.py")}
    assert apps <= packages, "a Django app is missing from pyproject's package list"
    needed = packages | {"templates", "static", "manage.py", "gunicorn.conf.py"}
    assert needed - copied == set()


def test_the_build_stage_installs_the_locked_versions_and_checks_their_hashes() -> None:
    build = _stages()[0]
    copies = [args.split() for instruction, args in build if instruction == "COPY"]
    lock = next(dest for *sources, dest in copies if sources == ["requirements/app.txt"])
    runs = [args for instruction, args in build if instruction == "RUN"]
    assert any(f"pip install --require-hashes -r {lock}" in run for run in runs)


def test_the_image_runs_gunicorn_as_a_non_root_user_and_never_migrates() -> None:
    final = _final_stage()
    users = [args for instruction, args in final if instruction == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    assert _instruction_json(final, "CMD") == ["gunicorn", "-c", "gunicorn.conf.py", APP]
    # No entrypoint script that could migrate (or do anything else) before gunicorn starts.
    assert not [args for instruction, args in final if instruction == "ENTRYPOINT"]
    # Static files are collected at build time, with keys that are thrown away.
    assert any(
        "collectstatic" in args for instruction, args in _stages()[0] if instruction == "RUN"
    )
    assert not [args for instruction, args in final if "SECRET_KEY" in args]


def test_dockerignore_keeps_local_state_out_of_the_build() -> None:
    ignored = {
        line.strip()
        for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {
        ".git",
        ".venv",
        ".env",
        "db.sqlite3",
        ".dev-vault-key",
        "staticfiles",
        "docs/screenshots",
    } <= ignored


def test_workers_start_with_the_loaded_app_frozen_out_of_garbage_collection() -> None:
    """A full collection walking every Django object paused requests in the middle."""
    script = (
        "import gc, runpy; hooks = runpy.run_path('gunicorn.conf.py'); "
        "hooks['pre_fork'](None, None); print(gc.get_freeze_count(), len(gc.get_objects()))"
    )
    frozen, still_collected = map(int, _python(script, env={}).split())
    assert frozen > 1000
    assert still_collected < 100  # all that was loaded before the fork


def test_an_access_log_turned_on_writes_no_capability(
    deployment: Deployment, tmp_path: Path
) -> None:
    """Issue 14, class 10: gunicorn's loggers bypass Django's handlers, so gunicorn.conf.py
    gives them the app's redaction filter. A deployment that turns the access log on still
    writes no signed link or token parameter, in the request line or in the referrer."""
    token, value, referred = (secrets.token_urlsafe(24) for _ in range(3))
    log = tmp_path / "server.log"
    with _gunicorn(deployment, log, GUNICORN_CMD_ARGS="--access-logfile -") as server:
        status, _, _ = _get(
            server.port,
            f"/checkout/{token}/success?page=1&token={value}",
            {"Referer": f"http://127.0.0.1/checkout/{referred}/cancel"},
        )
        assert status == 404  # not a valid link; logged all the same
        deadline = time.monotonic() + 5
        # The access line, once written ("<request line>" <status>; the app's own JSON line,
        # which comes first, also holds "GET /checkout/).
        while ' HTTP/1.1" 404 ' not in server.output():
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.05)
        output = server.output()

    assert [secret for secret in (token, value, referred) if secret in output] == []
    assert "/checkout/[redacted]/success?page=1&token=[redacted]" in output
    assert "/checkout/[redacted]/cancel" in output  # the referrer

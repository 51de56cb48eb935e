"""docker-compose.yml, Dockerfile and .env.example agree with the code (no Docker needed).

No Docker engine runs on CI, so these read the files: the services and their health checks,
that every variable the deployment sets is one the settings read (a typo would be silently
ignored otherwise), that the commands name real modules, and that the image is not root.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.envvars import REPO, accepted_names, env_example, settings_reads

APP_SERVICES = ("web", "worker", "beat")
BACKING_SERVICES = ("redis", "postgres")
REQUIRED = ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS")
# Read by docker-compose.yml's own ${...} interpolation, never by the app.
COMPOSE_ONLY = {"POSTGRES_PASSWORD", "WEBMAIL_IMAGE"}
MAILSTACK = REPO / "docker" / "mailstack"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    result = compose["services"]
    assert isinstance(result, dict)
    return result


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # the KEY=value list form
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def test_every_process_and_backing_service_is_there_with_health_and_restart(
        compose: dict[str, Any]) -> None:
    svc = services(compose)
    for name in (*APP_SERVICES, *BACKING_SERVICES):
        assert name in svc, name
        assert svc[name].get("restart") in {"always", "unless-stopped", "on-failure"}, name
        test = svc[name].get("healthcheck", {}).get("test")
        assert test and test != ["NONE"], f"{name} has no health check"
        assert "profiles" not in svc[name], f"{name} must run without a profile"


def test_app_services_share_one_image_and_wait_for_healthy_backing_services(
        compose: dict[str, Any]) -> None:
    svc = services(compose)
    images = {svc[name]["image"] for name in APP_SERVICES}
    assert len(images) == 1
    for name in APP_SERVICES:
        assert svc[name]["build"] == "."
        assert svc[name]["env_file"] in (".env", [".env"])
        depends = svc[name]["depends_on"]
        for backing in BACKING_SERVICES:
            assert depends[backing]["condition"] == "service_healthy", (name, backing)
    # Workers and beat start after web has applied the migrations (web is healthy after).
    for name in ("worker", "beat"):
        assert svc[name]["depends_on"]["web"]["condition"] == "service_healthy"
    assert svc["postgres"]["volumes"] and svc["redis"]["volumes"]
    # Uploads of compose sessions in progress are written by web and cleaned up by a worker
    # task: all of them share one WEBMAIL_VAR_DIR.
    shared = {name: [v for v in svc[name]["volumes"] if v.endswith(":/var/lib/webmail")]
              for name in APP_SERVICES}
    assert all(len(v) == 1 for v in shared.values()), shared
    assert len({v[0] for v in shared.values()}) == 1, shared


def test_every_variable_the_deployment_sets_is_read_by_the_settings(
        compose: dict[str, Any]) -> None:
    accepted = accepted_names()
    svc = services(compose)
    for name in APP_SERVICES:
        unknown = set(environment(svc[name])) - accepted
        assert not unknown, f"{name} sets variables settings.py never reads: {sorted(unknown)}"
    set_vars, listed = env_example()
    unknown = (set(set_vars) | listed) - accepted - COMPOSE_ONLY
    assert not unknown, f".env.example names variables settings.py never reads: {sorted(unknown)}"


def test_env_example_lists_every_variable_the_settings_read() -> None:
    set_vars, listed = env_example()
    missing = set(settings_reads()) - set(set_vars) - listed
    assert not missing, f".env.example does not mention {sorted(missing)}"


def test_compose_only_variables_are_really_used_by_compose() -> None:
    text = (REPO / "docker-compose.yml").read_text()
    for name in COMPOSE_ONLY:
        assert re.search(r"\$\{" + name + r"\b", text), name


def test_required_variables_are_set_for_web_and_worker(compose: dict[str, Any]) -> None:
    set_vars, _listed = env_example()
    svc = services(compose)
    for name in ("web", "worker"):
        provided = set(environment(svc[name])) | set(set_vars)  # env_file: .env
        assert set(REQUIRED) <= provided, (name, set(REQUIRED) - provided)
    db_url = environment(svc["web"])["DATABASE_URL"]
    assert db_url.startswith("postgres://") and "@postgres:5432/" in db_url
    assert environment(svc["web"])["REDIS_URL"].startswith("redis://redis:6379/")
    assert environment(svc["postgres"])["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD")


def _module_defines(module: str, name: str) -> bool:
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin, module
    tree = ast.parse(Path(spec.origin).read_text())
    return any(isinstance(node, ast.Assign)
               and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
               for node in tree.body)


def test_commands_name_real_modules(compose: dict[str, Any]) -> None:
    svc = services(compose)
    web = svc["web"]["command"]
    assert web[0] == "--migrate"  # the entrypoint migrates, then execs gunicorn
    assert web[1] == "gunicorn"
    module, attr = web[2].split(":")
    assert (module, attr) == ("webmail.wsgi", "application")
    assert _module_defines(module, attr)
    assert web[web.index("-b") + 1] == "0.0.0.0:8000"
    for name, sub in (("worker", "worker"), ("beat", "beat")):
        command = svc[name]["command"]
        assert command[:4] == ["celery", "-A", "webmail", sub], command
    # `celery -A webmail` finds webmail.celery.app
    assert _module_defines("webmail.celery", "app")
    assert "--concurrency" in svc["worker"]["command"]
    entrypoint = (REPO / "docker" / "entrypoint.sh").read_text()
    assert '"--migrate"' in entrypoint and 'exec "$@"' in entrypoint


def _stages(dockerfile: str) -> list[list[str]]:
    """Instructions per stage, continuation lines joined."""
    joined = re.sub(r"\\\n", " ", dockerfile)
    stages: list[list[str]] = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def test_dockerfile_is_multi_stage_slim_non_root_with_a_health_check() -> None:
    text = (REPO / "Dockerfile").read_text()
    stages = _stages(text)
    assert len(stages) >= 2
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in text
    final = stages[-1]
    assert final[0] in ("FROM ${PYTHON_IMAGE}", "FROM python:3.11-slim-bookworm")
    users = [line.split()[1] for line in final if line.upper().startswith("USER ")]
    assert users, "the image runs as root"
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert any(line.startswith("HEALTHCHECK ") and "/app/docker/healthcheck.py" in line
               for line in final)
    # No compilers or package installs in what ships.
    assert not any("apt-get install" in line or "gcc" in line for line in final)
    build = " ".join(stages[0])
    assert "pip install ." in build
    assert "collectstatic --noinput" in build and "SECRET_KEY=" in build
    cmd = next(line for line in final if line.startswith("CMD "))
    assert '"gunicorn", "webmail.wsgi:application", "-b", "0.0.0.0:8000"' in cmd
    assert '"--workers"' in cmd and '"--threads"' in cmd
    entrypoint = REPO / "docker" / "entrypoint.sh"
    assert os.access(entrypoint, os.X_OK)
    assert 'ENTRYPOINT ["/app/docker/entrypoint.sh"]' in final


def test_dockerignore_keeps_secrets_and_junk_out_but_the_docker_helpers_in() -> None:
    ignored = {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".env", ".git", ".venv", "tests", "var", "staticfiles"} <= ignored
    assert "docker" not in ignored  # entrypoint.sh, migrate.py, healthcheck.py ship


def test_mailstack_profile_is_dovecot_and_postfix_wired_to_env_example(
        compose: dict[str, Any]) -> None:
    svc = services(compose)
    for name in ("dovecot", "postfix"):
        assert svc[name]["profiles"] == ["mailstack"]
        assert svc[name]["build"] == "docker/mailstack"
        assert svc[name]["healthcheck"]["test"]
    set_vars, _listed = env_example()
    assert set_vars["WEBMAIL_IMAP_HOST"] == "dovecot"
    assert set_vars["WEBMAIL_SMTP_HOST"] == "postfix"
    dovecot = (MAILSTACK / "dovecot.conf").read_text()
    assert re.search(r"inet_listener imap \{\s*port = " + set_vars["WEBMAIL_IMAP_PORT"], dovecot)
    master = (MAILSTACK / "postfix" / "master.cf").read_text()
    assert re.search(r"^" + set_vars["WEBMAIL_SMTP_PORT"] + r"\s+inet\b", master, re.M)
    assert set_vars["WEBMAIL_SMTP_AUTH"] == "user"  # the submission port requires AUTH
    assert "FROM debian:bookworm-slim" in (MAILSTACK / "Dockerfile").read_text()


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which(args[0]) or f"/usr/sbin/{args[0]}"
    return subprocess.run([binary, *args[1:]], capture_output=True, text=True, timeout=30,
                          check=False)


def test_mailstack_dovecot_config_parses_cleanly() -> None:
    # The test mail stack (tests/infra/mailstack.sh install) provides Dovecot's tools.
    result = _run("doveconf", "-c", str(MAILSTACK / "dovecot.conf"), "-n")
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr.lower(), result.stderr
    assert "listen = *" in result.stdout


def test_mailstack_postfix_config_parses_cleanly() -> None:
    config = str(MAILSTACK / "postfix")
    main = _run("postconf", "-c", config, "-n")
    assert main.returncode == 0 and "warning" not in main.stderr.lower(), main.stderr
    assert "virtual_transport = lmtp:inet:dovecot:24" in main.stdout
    master = _run("postconf", "-c", config, "-M")
    assert master.returncode == 0 and "warning" not in master.stderr.lower(), master.stderr
    assert re.search(r"^587\s+inet .*smtpd_sasl_auth_enable=yes", master.stdout, re.M)


def test_operations_doc_explains_every_variable() -> None:
    doc = (REPO / "docs" / "operations.md").read_text()
    missing = [name for name in settings_reads() if f"`{name}`" not in doc]
    assert not missing, f"docs/operations.md does not explain {missing}"

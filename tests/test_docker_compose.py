"""Static checks of the Docker deployment files in docker/ (no Docker engine).

The compose file is validated with Debian's docker-compose v1 (`config` only
parses, interpolates and validates; it never talks to a daemon). Everything
runs on copies in tmp_path so nothing is written into the repository.
"""
import os
import re
import shutil
import subprocess
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
DOCKER_DIR = REPO / "docker"
DOCKER_COMPOSE = "/usr/bin/docker-compose"

WORKER_SERVICES = ("worker", "worker-bmc", "worker-telemetry")
APP_SERVICES = ("migrate", "web", "ws", *WORKER_SERVICES, "beat")
ALL_SERVICES = {"postgres", "redis", "nginx", *APP_SERVICES}

FAKE_ENV = """\
AIMATRIX_SECRET_KEY=test-only-secret
AIMATRIX_ENCRYPTION_KEYS=dGVzdC1vbmx5LWtleS10ZXN0LW9ubHkta2V5LTEyMzQ=
POSTGRES_PASSWORD=test-pg-password
REDIS_PASSWORD=test-redis-password
DATABASE_URL=postgres://aimatrix:test-pg-password@postgres:5432/aimatrix
REDIS_URL=redis://:test-redis-password@redis:6379/0
AIMATRIX_ALLOWED_HOSTS=matrix.example.com
"""


def _compose_binary() -> str:
    if os.path.exists(DOCKER_COMPOSE):
        return DOCKER_COMPOSE
    found = shutil.which("docker-compose")
    assert found, (
        "docker-compose (Debian package, v1) is not installed; "
        "run `scripts/install.sh test` to install the test tooling."
    )
    return found


def _compose_config(tmp_path: Path) -> dict:
    """Copy docker/ files to tmp_path/docker and return the resolved config."""
    work = tmp_path / "docker"
    work.mkdir()
    for name in ("compose.yaml", "nginx.conf", "Dockerfile"):
        shutil.copy(DOCKER_DIR / name, work / name)
    (work / ".env.prod").write_text(FAKE_ENV)
    compose_file = work / "compose.yaml"

    # Minimal environment: no DOCKER_*/COMPOSE_*/AIMATRIX_* leaking in from
    # the caller, so defaults in the file are what gets checked.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    result = subprocess.run(
        [_compose_binary(), "-f", str(compose_file), "config"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, (
        f"docker-compose config failed ({result.returncode}):\n{result.stderr}\n{result.stdout}"
    )
    config = yaml.safe_load(result.stdout)
    assert isinstance(config, dict) and "services" in config, result.stdout
    return config


def _published_ports(service: dict) -> list[tuple[str, str]]:
    """(published, target) pairs; accepts short ("80:80") and long syntax."""
    pairs = []
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            pairs.append((str(port.get("published", "")), str(port.get("target", ""))))
        else:
            spec = str(port).split("/")[0]
            parts = spec.split(":")
            target = parts[-1]
            published = parts[-2] if len(parts) > 1 else ""
            pairs.append((published, target))
    return pairs


def _volume_spec(volume) -> str:
    """"source:target:mode" for short ("a:b:ro") and long (dict) syntax."""
    if isinstance(volume, dict):
        mode = "ro" if volume.get("read_only") else "rw"
        return f"{volume.get('source')}:{volume.get('target')}:{mode}"
    return str(volume)


def _command(service: dict) -> str:
    command = service.get("command") or []
    return command if isinstance(command, str) else " ".join(str(part) for part in command)


def test_compose_file_is_valid_and_wired(tmp_path):
    config = _compose_config(tmp_path)
    services = config["services"]

    assert ALL_SERVICES <= set(services), f"missing services: {ALL_SERVICES - set(services)}"

    # One image for all app services, built from docker/Dockerfile with the
    # repository root (tmp_path here) as context.
    web_build = services["web"].get("build")
    assert web_build, "web must be built from docker/Dockerfile"
    for name in APP_SERVICES:
        service = services[name]
        assert service.get("build") == web_build, f"{name} must use the same build as web"
        assert service.get("image") == services["web"].get("image"), f"{name} must share web's image"
    assert Path(web_build["context"]).resolve() == tmp_path.resolve()
    assert web_build["dockerfile"] == "docker/Dockerfile"

    # env_file .env.prod is applied to the app services.
    for name in APP_SERVICES:
        environment = services[name].get("environment") or {}
        assert environment.get("AIMATRIX_SECRET_KEY") == "test-only-secret", name
        assert environment.get("DATABASE_URL", "").startswith("postgres://"), name

    # Nothing publishes PostgreSQL or Redis on the host.
    for name in ("postgres", "redis"):
        assert not services[name].get("ports"), f"{name} must not publish ports"
    for name, service in services.items():
        for published, target in _published_ports(service):
            assert target not in {"5432", "6379"}, f"{name} publishes {target}"
            assert published not in {"5432", "6379"}, f"{name} publishes {published}"

    # nginx is the entry point on port 80; web is internal only.
    assert ("80", "80") in _published_ports(services["nginx"])
    for name in ("web", "ws"):
        assert not services[name].get("ports"), f"{name} must be reached through nginx"

    # Start-up order.
    def condition(service, dependency):
        depends_on = services[service].get("depends_on") or {}
        assert dependency in depends_on, f"{service} must depend on {dependency}"
        return depends_on[dependency].get("condition") if isinstance(depends_on, dict) else None

    assert condition("migrate", "postgres") == "service_healthy"
    for name in ("web", "ws", *WORKER_SERVICES, "beat"):
        assert condition(name, "migrate") == "service_completed_successfully"
        assert condition(name, "redis") == "service_healthy"
    assert {"web", "ws"} <= set(services["nginx"]["depends_on"])
    for name in ("postgres", "redis"):
        assert services[name].get("healthcheck", {}).get("test"), f"{name} needs a healthcheck"

    # Commands.
    assert "migrate --noinput" in _command(services["migrate"])
    # Plain HTTP from gunicorn with the project's config; websockets only from daphne.
    assert _command(services["web"]) == "gunicorn -c aimatrix/gunicorn_conf.py aimatrix.wsgi:application"
    assert services["web"]["environment"]["AIMATRIX_WEB_BIND"] == "0.0.0.0:8000"
    assert "daphne" in _command(services["ws"]) and "aimatrix.asgi:application" in _command(services["ws"])
    assert "daphne" not in _command(services["web"])
    beat = _command(services["beat"])
    assert "celery -A aimatrix beat" in beat
    assert "django_celery_beat.schedulers:DatabaseScheduler" in beat
    assert "--requirepass" in " ".join(services["redis"].get("entrypoint") or []) + _command(services["redis"])

    # Restart policies: long-running services restart, the one-shot does not.
    for name in ALL_SERVICES - {"migrate"}:
        assert services[name].get("restart") in {"always", "unless-stopped"}, name
    assert services["migrate"].get("restart") in {None, "no"}

    # nginx gets its config and the static volume read-only.
    nginx_volumes = [_volume_spec(volume) for volume in services["nginx"]["volumes"]]
    assert any(v.endswith("/etc/nginx/conf.d/default.conf:ro") for v in nginx_volumes), nginx_volumes
    assert any(v.startswith("static:") and v.endswith(":ro") for v in nginx_volumes), nginx_volumes


def _worker_queues(command: str) -> list[str]:
    match = re.search(r"-Q\s+(\S+)", command)
    assert match, f"a worker without -Q consumes only the default queue: {command}"
    return match.group(1).split(",")


def test_workers_are_split_by_queue_group(tmp_path):
    """One worker service per queue group of aimatrix/topology.py (slow BMCs cannot hold the
    slots SSH jobs need), together consuming every queue exactly once; concurrency from the env."""
    from aimatrix import topology

    services = _compose_config(tmp_path)["services"]
    groups = []
    for name in WORKER_SERVICES:
        command = _command(services[name])
        assert "celery -A aimatrix worker" in command, command
        assert re.search(r"--concurrency=\$+\{AIMATRIX_WORKER_[A-Z]+_CONCURRENCY:-\d+\}", command), command
        # Celery children keep plain persistent connections (see the pool comment in settings.py).
        assert services[name]["environment"].get("AIMATRIX_DB_POOL") == "0", name
        groups.append(tuple(_worker_queues(command)))
    assert sorted(groups) == sorted(topology.WORKER_GROUPS.values())
    from django.conf import settings
    assert sorted(q for group in groups for q in group) == sorted(settings.JOBS_QUEUES)


def test_postgres_allows_the_whole_topology(tmp_path):
    """Every pooled web/ws process, every Celery child and beat together stay below
    max_connections (minus PostgreSQL's 3 reserved slots), with room to scale out."""
    from aimatrix import topology

    services = _compose_config(tmp_path)["services"]
    command = _command(services["postgres"])
    match = re.search(r"max_connections=(\d+)", command)
    assert match, f"postgres must set max_connections: {command}"
    assert topology.connection_budget()["total"] < int(match.group(1)) - 3


def _strip_comments(text: str) -> str:
    return "\n".join(line.split("#", 1)[0] for line in text.splitlines())


def _location_block(config: str, path: str) -> str:
    match = re.search(r"location\s+" + re.escape(path) + r"\s*\{", config)
    assert match, f"nginx.conf has no `location {path}` block"
    depth, start = 1, match.end()
    for index in range(start, len(config)):
        if config[index] == "{":
            depth += 1
        elif config[index] == "}":
            depth -= 1
            if depth == 0:
                return config[start:index]
    raise AssertionError(f"unbalanced braces after `location {path}`")


def _directives(block: str) -> set[str]:
    return {" ".join(statement.split()) for statement in block.split(";") if statement.strip()}


def test_nginx_conf_proxies_websockets():
    config = _strip_comments((DOCKER_DIR / "nginx.conf").read_text())

    upstreams = dict(re.findall(r"upstream\s+(\S+)\s*\{[^}]*?server\s+(\S+?:8000)\b", config))
    assert set(upstreams.values()) == {"web:8000", "ws:8000"}, upstreams
    assert re.search(r"client_max_body_size\s+8m\s*;", config)

    ws = _directives(_location_block(config, "/ws/"))
    # Websockets to daphne (ws), everything else to gunicorn (web).
    assert {d for d in ws if d.startswith("proxy_pass ")} == {f"proxy_pass http://{upstream}"
                                                                for upstream, server in upstreams.items()
                                                                if server == "ws:8000"}, ws
    rest = _directives(_location_block(config, "/"))
    assert {d for d in rest if d.startswith("proxy_pass ")} == {f"proxy_pass http://{upstream}"
                                                                  for upstream, server in upstreams.items()
                                                                  if server == "web:8000"}, rest
    assert "proxy_http_version 1.1" in ws, ws
    assert "proxy_set_header Upgrade $http_upgrade" in ws, ws
    connection = [d for d in ws if d.startswith("proxy_set_header Connection ")]
    assert connection, "/ws/ must forward the Connection header"
    value = connection[0].split()[-1]
    if value.startswith("$"):
        # A map must turn the Upgrade request header into "upgrade".
        assert re.search(r"map\s+\$http_upgrade\s+" + re.escape(value) + r"\s*\{[^}]*\bupgrade\b", config), value
    else:
        assert value.strip("\"'").lower() == "upgrade", value
    assert any(re.fullmatch(r"proxy_read_timeout (\d+)s?", d) and int(re.findall(r"\d+", d)[0]) >= 300 for d in ws), (
        "/ws/ needs a long proxy_read_timeout"
    )
    for block in (ws, _directives(_location_block(config, "/"))):
        assert block & {
            "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for",
            "proxy_set_header X-Forwarded-For $remote_addr",
        }, block
        assert any(d.startswith("proxy_set_header X-Forwarded-Proto $") for d in block), block
        assert any(d.startswith("proxy_set_header Host $") for d in block), block

    static = _directives(_location_block(config, "/static/"))
    assert any(d.startswith(("alias ", "root ")) for d in static), static
    assert any(d.startswith(("expires ", "add_header Cache-Control")) for d in static), static

    for header in ("X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy"):
        assert re.search(r"add_header\s+" + header + r"\b", config), f"missing security header {header}"


def test_dockerfile_basics():
    dockerfile = (DOCKER_DIR / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim-bookworm\b", dockerfile, re.M)
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.M)
    assert users and users[-1] not in {"root", "0"}, "the image must run as a non-root user"
    assert "requirements/base.txt" in dockerfile
    assert re.search(r"AIMATRIX_SECRET_KEY=build-only\s+AIMATRIX_ENCRYPTION_KEYS=\S+\s+python manage.py collectstatic --noinput", dockerfile)
    assert re.search(r"^HEALTHCHECK\b", dockerfile, re.M)
    assert re.search(r'^CMD \["gunicorn", "-c", "aimatrix/gunicorn_conf\.py", "aimatrix\.wsgi:application"\]', dockerfile, re.M)
    assert re.search(r"^ENV AIMATRIX_WEB_BIND=0\.0\.0\.0:8000$", dockerfile, re.M)
    for copy in re.findall(r"^COPY\b.*$", dockerfile, re.M):
        assert ".env" not in copy and not re.search(r"\s\.\s", copy), f"copy runtime paths only: {copy}"


def test_app_trusts_forwarding_headers_from_nginx_only(tmp_path):
    """The client address (audit, tokens, throttles, login lockout) comes from nginx's headers,
    and only nginx's: AIMATRIX_TRUSTED_PROXIES is nginx's fixed address on the compose network."""
    import ipaddress

    config = _compose_config(tmp_path)
    services = config["services"]
    nginx_address = services["nginx"]["networks"]["default"]["ipv4_address"]
    subnets = [entry["subnet"] for entry in config["networks"]["default"]["ipam"]["config"]]
    assert any(ipaddress.ip_address(nginx_address) in ipaddress.ip_network(subnet) for subnet in subnets), subnets
    for name in APP_SERVICES:
        trusted = services[name]["environment"].get("AIMATRIX_TRUSTED_PROXIES", "")
        assert nginx_address in trusted.split(","), f"{name}: AIMATRIX_TRUSTED_PROXIES={trusted!r}"

    config_text = _strip_comments((DOCKER_DIR / "nginx.conf").read_text())
    for path in ("/", "/ws/"):
        block = _directives(_location_block(config_text, path))
        assert "proxy_set_header X-Real-IP $remote_addr" in block, block

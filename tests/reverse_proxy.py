"""A real nginx (Debian's package) running the shipped docker/nginx.conf in front of the test servers
(gunicorn for plain HTTP, daphne for /ws/).

The shipped file is a conf.d snippet for the nginx image; only what ties it to Docker changes
here (Docker's DNS resolver, the `web:8000` upstream, port 80, the static volume), and each
change must match exactly once so an edit of the shipped file cannot silently bypass the test.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import requests
from requests.adapters import HTTPAdapter

from devtools.processes import ROOT, Process, free_port, wait_listening

SHIPPED_CONF = ROOT / "docker" / "nginx.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

DOCKER_ONLY = [
    # (pattern in docker/nginx.conf, replacement for the test)
    (r"^resolver\s[^;]*;", "# (no Docker DNS here)"),
    (r"\bserver\s+web:8000\s+resolve;", "server 127.0.0.1:{upstream_port};"),
    (r"\bserver\s+ws:8000\s+resolve;", "server 127.0.0.1:{ws_port};"),
    (r"\blisten\s+80\s+default_server;", "listen 127.0.0.1:{listen_port} default_server;"),
    (r"\balias\s+/srv/static/;", "alias {static_dir}/;"),
]


def adapted_config(upstream_port: int, listen_port: int, ws_port: int | None = None) -> str:
    text = SHIPPED_CONF.read_text()
    values = {"upstream_port": upstream_port, "listen_port": listen_port, "static_dir": ROOT / "static",
              "ws_port": ws_port or upstream_port}
    for pattern, replacement in DOCKER_ONLY:
        text, count = re.subn(pattern, replacement.format(**values), text, flags=re.M)
        assert count == 1, f"docker/nginx.conf: {pattern!r} matched {count} times; update tests/reverse_proxy.py"
    return text


def main_config(state_dir: Path, server_block: str) -> str:
    """The stock nginx.conf around the conf.d snippet, with every path under state_dir."""
    # As root, workers run as root too, so they can write the temp paths wherever the
    # checkout lives (under /root, say); never the case outside tests.
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = "\n".join(f"    {kind}_temp_path {state_dir / kind};" for kind in
                     ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return f"""{user}daemon off;
worker_processes 1;
pid {state_dir / 'nginx.pid'};
error_log {state_dir / 'error.log'} warn;
events {{ worker_connections 256; }}
http {{
    access_log {state_dir / 'access.log'};
{temp}
{server_block}
}}
"""


def start_nginx(upstream_url: str, state_dir: Path, listen_port: int | None = None,
                timeout: float = 10, ws_url: str | None = None) -> tuple[Process, str]:
    """nginx on a free port: /ws/ to `ws_url` (daphne), the rest to `upstream_url` (gunicorn);
    without `ws_url` everything goes to `upstream_url`."""
    state_dir.mkdir(parents=True, exist_ok=True)
    upstream_port = int(upstream_url.rsplit(":", 1)[1])
    ws_port = int(ws_url.rsplit(":", 1)[1]) if ws_url else None
    listen_port = listen_port or free_port()
    conf = state_dir / "nginx.conf"
    conf.write_text(main_config(state_dir, adapted_config(upstream_port, listen_port, ws_port)))
    argv = [NGINX, "-p", str(state_dir), "-e", str(state_dir / "error.log"), "-c", str(conf)]
    proc = Process("nginx", argv, dict(os.environ), state_dir)
    error_log = state_dir / "error.log"
    wait_listening(proc, listen_port, timeout, "nginx", lambda: error_log.read_text() if error_log.exists() else "")
    return proc, f"http://127.0.0.1:{listen_port}"


class _SourceAddressAdapter(HTTPAdapter):
    def __init__(self, source: str):
        self._source = source
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self._source, 0)
        super().init_poolmanager(*args, **kwargs)


def client_from(source: str) -> requests.Session:
    """An HTTP session whose connections leave from `source` (any 127.0.0.0/8 address works
    on Linux), so nginx sees a different peer per "client"."""
    session = requests.Session()
    session.mount("http://", _SourceAddressAdapter(source))
    return session

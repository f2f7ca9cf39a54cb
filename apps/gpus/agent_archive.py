"""The node agent as one file a node can fetch: a zip application of aimatrix_agent/ (stdlib only;
nvidia-ml-py is used when the node has it). `python3 agent.pyz --url ... --token-file ...`."""
from __future__ import annotations

import functools
import io
import zipfile
from pathlib import Path

import aimatrix_agent
from django.http import HttpResponse
from django.views.decorators.http import require_GET

PACKAGE_DIR = Path(aimatrix_agent.__file__).resolve().parent
ENTRY = b"import sys\nfrom aimatrix_agent.__main__ import main\nsys.exit(main())\n"


@functools.lru_cache(maxsize=1)
def build() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("__main__.py", ENTRY)
        for path in sorted(PACKAGE_DIR.glob("*.py")):
            archive.writestr(f"aimatrix_agent/{path.name}", path.read_bytes())
    return b"#!/usr/bin/env python3\n" + buffer.getvalue()


@require_GET
def agent_archive_view(request):
    """The agent's code is no secret: anyone who reaches the portal may fetch it."""
    response = HttpResponse(build(), content_type="application/zip")
    response["Content-Disposition"] = 'attachment; filename="aimatrix-agent.pyz"'
    return response

"""The `nodes.import` job: files of more than settings.NODES_IMPORT_SYNC_MAX_ROWS rows are
validated and created by a worker, with progress, instead of inside the web request.

Where the rows wait: the request parses the file (permission first, then size, depth and row
limits) and writes the parsed rows as JSON to `VAR_DIR/imports/<random id>.json` (mode 600);
the job's parameters carry only that id, the row count, the format and the SHA-256 of the file.
Job parameters are copied into the audit entry of the start, into every job list and detail
of the API and pages and into the websocket stream, so megabytes of rows there would slow
every one of them; a file keeps them out. The var directory is shared by the web and worker
processes (one machine, or the `appvar` volume of the compose file). The file is removed when
the import succeeds; after a failure it stays, so the job can be retried.
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
from pathlib import Path

from django.conf import settings
from rest_framework import serializers

from apps.jobs import services as jobs
from apps.jobs.registry import register
from apps.jobs.runner import JobFailed

from . import importer

KIND = "nodes.import"
ERRORS_LOGGED = 200


def upload_dir() -> Path:
    return Path(settings.VAR_DIR) / "imports"


def _path(upload: str) -> Path:
    return upload_dir() / f"{upload}.json"


class ImportParams(serializers.Serializer):
    upload = serializers.RegexField(r"^[0-9a-f]{32}$")
    format = serializers.ChoiceField(choices=importer.FORMATS)
    rows = serializers.IntegerField(min_value=1, max_value=importer.MAX_ROWS)
    sha256 = serializers.RegexField(r"^[0-9a-f]{64}$")


def stash_rows(rows: list[dict]) -> tuple[str, str]:
    """Write the parsed rows where the worker finds them; (id, sha256 of the file)."""
    upload_dir().mkdir(mode=0o700, parents=True, exist_ok=True)
    upload = secrets.token_hex(16)
    data = json.dumps(rows, separators=(",", ":"), default=str).encode()
    fd = os.open(_path(upload), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return upload, hashlib.sha256(data).hexdigest()


def load_rows(params: dict) -> list[dict]:
    try:
        data = _path(params["upload"]).read_bytes()
    except FileNotFoundError:
        raise JobFailed("The uploaded rows are no longer there (a finished import removes them); "
                        "upload the file again.") from None
    if hashlib.sha256(data).hexdigest() != params["sha256"]:
        raise JobFailed("The uploaded rows were changed after the upload; upload the file again.")
    rows = json.loads(data)
    if len(rows) != params["rows"]:
        raise JobFailed(f"Expected {params['rows']} rows, found {len(rows)}; upload the file again.")
    return rows


def start_import_job(user, rows: list[dict], fmt: str):
    upload, digest = stash_rows(rows)
    try:
        return jobs.start_job(user, KIND, {"upload": upload, "format": fmt, "rows": len(rows), "sha256": digest})
    except BaseException:
        _path(upload).unlink(missing_ok=True)
        raise


def _authorize(user, params) -> None:
    importer.check_may_import(user)


@register(KIND, label="Import nodes", permission="nodes.add_node", params=ImportParams, authorize=_authorize)
def import_nodes(runner, params, target):
    """Validates every row of an uploaded node file, then creates all of them or none."""
    user = runner.job.requester
    if user is None:
        raise JobFailed("The user who started the import no longer exists.")
    importer.check_may_import(user)
    rows = load_rows(params)
    total = len(rows)

    def reporter(start: int):
        def report(done: int) -> None:
            runner.check_cancelled()
            runner.progress(start + done * 50 // total)
        return report

    runner.step(f"Validating {total} rows", progress=0)
    valid, errors = importer.validate(user, rows, progress=reporter(0))
    if errors:
        for error in errors[:ERRORS_LOGGED]:
            runner.log(f"row {error['row']} ({error['name']}): {json.dumps(error['errors'], default=str)}",
                       level="error")
        first = errors[0]
        raise JobFailed(f"{len(errors)} of {total} rows are invalid, nothing was imported. First: row "
                        f"{first['row']}: {json.dumps(first['errors'], default=str)[:300]}")
    runner.step(f"Creating {total} nodes", progress=50)
    created = importer.create_all(user, valid, progress=reporter(50))
    _path(params["upload"]).unlink(missing_ok=True)
    return {"created": len(created)}

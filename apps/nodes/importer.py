"""Bulk import of nodes from CSV, JSON or YAML (the seed's host file), all or nothing.

Every row is validated first; a single bad row imports nothing and the answer names each bad
row (1-based, as in the file) and field. Columns/keys: name, address, ssh_port, ssh_user,
ssh_credential (secret name), labels (list, or 'a;b' in CSV), project (name), host_key
("ssh-ed25519 AAAA..."), bmc_driver, bmc_address, bmc_port, bmc_credential, bmc_system_id.

Order of work, cheapest refusal first: permission (before the file is read or parsed), size,
parse with no YAML aliases and bounded depth, row count; then up to
settings.NODES_IMPORT_SYNC_MAX_ROWS rows are imported at once, more run as a job
(apps/nodes/import_job.py) that reports progress.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction

from apps.core import safe_json, safe_yaml
from apps.core.errors import Forbidden, InvalidInput
from apps.rbac.models import Membership
from apps.rbac.permissions import may_act_in_project, project_roles_for

from . import services
from .api.serializers import BmcWriteSerializer, NodeSerializer
from .models import Node

FORMATS = ("csv", "json", "yaml")
MAX_ROWS = 5000
MAX_FILE_BYTES = 5_000_000
MAX_DEPTH = 8  # {"nodes": [{"labels": [...]}]} needs 4
BMC_FIELDS = {"bmc_driver": "driver", "bmc_address": "address", "bmc_port": "port",
              "bmc_credential": "credential", "bmc_system_id": "system_id"}


# --- permission: before anything is read ------------------------------------------------
def may_import(user) -> bool:
    """May the user add nodes anywhere (some project, or anywhere as an operator)? Each row is
    still checked against its own project when it is created."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if may_act_in_project(user, Node, None, "add"):  # superusers and unrestricted operators
        return True
    return user.has_perm("nodes.add_node") and Membership.objects.filter(
        user=user, role__in=project_roles_for("add")).exists()


def check_may_import(user) -> None:
    if not may_import(user):
        raise Forbidden("You may not add nodes, so you may not import them.")


# --- reading and parsing ----------------------------------------------------------------
def read_upload(data: dict) -> tuple[str, str]:
    """The file's text and format from an upload or inline content."""
    upload = data.get("file")
    if upload is not None:
        if upload.size is not None and upload.size > MAX_FILE_BYTES:
            raise InvalidInput({"file": [f"The file is larger than {MAX_FILE_BYTES} bytes."]})
        content = upload.read(MAX_FILE_BYTES + 1)
        if len(content) > MAX_FILE_BYTES:
            raise InvalidInput({"file": [f"The file is larger than {MAX_FILE_BYTES} bytes."]})
        fmt = data.get("format") or upload.name.rsplit(".", 1)[-1].lower()
        try:
            return content.decode("utf-8-sig"), fmt
        except UnicodeDecodeError:
            raise InvalidInput({"file": ["The file is not UTF-8 text."]}) from None
    if "content" not in data:
        raise InvalidInput({"file": ["Send a file, or content with a format."]})
    if not data.get("format"):
        raise InvalidInput({"format": ["Say which format the content is in (csv, json, yaml)."]})
    if len(data["content"]) > MAX_FILE_BYTES:
        raise InvalidInput({"content": [f"The content is longer than {MAX_FILE_BYTES} characters."]})
    return data["content"], data["format"]


def _csv_rows(content: str) -> list[dict]:
    rows = []
    for row in csv.DictReader(io.StringIO(content)):
        rows.append(dict(row))
        if len(rows) > MAX_ROWS:  # stop reading: the count alone refuses the file
            break
    return rows


def parse(content: str, fmt: str) -> list[dict]:
    fmt = "yaml" if fmt == "yml" else fmt
    if fmt not in FORMATS:
        raise InvalidInput({"format": ["Use csv, json or yaml."]})
    try:
        if fmt == "csv":
            rows = _csv_rows(content)
        elif fmt == "json":
            rows = safe_json.loads(content, max_bytes=MAX_FILE_BYTES, max_depth=MAX_DEPTH)
        else:
            rows = safe_yaml.load(content, max_bytes=MAX_FILE_BYTES, max_depth=MAX_DEPTH)
    except (safe_json.JsonRejected, safe_yaml.YamlRejected) as exc:
        raise InvalidInput({"file": [f"Cannot read the {fmt} file: {exc}"]}) from None
    except csv.Error as exc:
        raise InvalidInput({"file": [f"Cannot read the {fmt} file: {exc}"]}) from None
    if isinstance(rows, dict) and isinstance(rows.get("nodes"), list):
        rows = rows["nodes"]
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise InvalidInput({"file": ["Expected a list of nodes (or {\"nodes\": [...]})."]})
    if len(rows) > MAX_ROWS:
        raise InvalidInput({"file": [f"At most {MAX_ROWS} nodes per import."]})
    if not rows:
        raise InvalidInput({"file": ["The file has no nodes."]})
    return [normalise(row) for row in rows]


def normalise(row: dict) -> dict:
    row = {str(k).strip(): (v.strip() if isinstance(v, str) else v) for k, v in row.items() if k is not None}
    row = {k: v for k, v in row.items() if v not in ("", None)}
    if isinstance(row.get("labels"), str):
        row["labels"] = [p.strip() for p in row["labels"].replace(",", ";").split(";") if p.strip()]
    if isinstance(row.get("host_key"), str):
        row["known_host_keys"] = [row.pop("host_key")]
    return row


# --- validating and creating ------------------------------------------------------------
def validate(user, rows: list[dict], progress=None) -> tuple[list[tuple[dict, dict | None]], list[dict]]:
    """(valid rows, errors per row). progress(done) is called every 100 rows when given."""
    valid, errors = [], []
    names = set()
    for number, original in enumerate(rows, start=1):
        row = dict(original)
        bmc_raw = {BMC_FIELDS[k]: row.pop(k) for k in list(row) if k in BMC_FIELDS}
        node = NodeSerializer(data=row, context={"user": user})
        row_errors = {} if node.is_valid() else dict(node.errors)
        name = row.get("name") if isinstance(row.get("name"), str) else None
        if name is not None and name in names:
            row_errors["name"] = ["Appears twice in this file."]
        names.add(name)
        bmc = None
        if bmc_raw:
            bmc = BmcWriteSerializer(data=bmc_raw)
            if not bmc.is_valid():
                row_errors.update({f"bmc_{k}": v for k, v in bmc.errors.items()})
        if row_errors:
            errors.append({"row": number, "name": name, "errors": row_errors})
        else:
            valid.append((node.validated_data, bmc.validated_data if bmc else None))
        if progress is not None and number % 100 == 0:
            progress(number)
    return valid, errors


def create_all(user, valid, progress=None) -> list[Node]:
    """Create every row or none. Each node is audited once, by create_node, like a node made
    through the API; no extra summary entry (one write, one audit entry)."""
    created = []
    with transaction.atomic():  # nothing half-imported: any failure rolls every row back
        for number, (data, bmc) in enumerate(valid, start=1):
            data = dict(data)
            host_keys = data.pop("known_host_keys", [])
            node = services.create_node(user, host_keys=host_keys, **data)
            if bmc:
                services.set_bmc(user, node, **bmc)
            created.append(node)
            if progress is not None and number % 100 == 0:
                progress(number)
    return created


def import_rows(user, rows: list[dict]) -> list[Node]:
    """Validate and create parsed rows now (all or nothing)."""
    check_may_import(user)
    valid, errors = validate(user, rows)
    if errors:
        raise InvalidInput({"rows": errors})
    return create_all(user, valid)


@dataclass
class ImportPreview:
    """What an import would do, found without writing anything."""

    total: int
    to_create: list[dict]  # the rows that would become nodes (as in the file)
    refused: list[dict]  # {"row", "name", "errors": {field: [messages]}}
    existing: list[str]  # names in the file that are nodes already
    checked_in_full: bool  # False for a file a job imports: its job checks every field

    @property
    def importable(self) -> bool:
        return not self.refused  # one bad row imports nothing


def preview(user, content: str, fmt: str) -> ImportPreview:
    """start_import without the writes: permission before parsing, then the same parse and the
    same row checks. A file too large to import at once is checked by its job; here only the
    names (twice in the file, or existing already), so the request stays short."""
    check_may_import(user)
    rows = parse(content, fmt)
    names = [row["name"] for row in rows if isinstance(row.get("name"), str)]
    existing = sorted(Node.objects.filter(name__in=names).values_list("name", flat=True))
    checked_in_full = len(rows) <= settings.NODES_IMPORT_SYNC_MAX_ROWS
    if checked_in_full:
        refused = validate(user, rows)[1]
    else:
        refused, seen, taken = [], set(), set(existing)
        for number, row in enumerate(rows, start=1):
            name = row.get("name") if isinstance(row.get("name"), str) else None
            problem = ("A node of this name exists already." if name in taken else
                       "Appears twice in this file." if name in seen else
                       "Every node needs a name." if name is None else None)
            seen.add(name)
            if problem:
                refused.append({"row": number, "name": name, "errors": {"name": [problem]}})
    bad = {r["row"] for r in refused}
    to_create = [row for number, row in enumerate(rows, start=1) if number not in bad]
    return ImportPreview(total=len(rows), to_create=to_create, refused=refused, existing=existing,
                         checked_in_full=checked_in_full)


@dataclass
class ImportStarted:
    """Either the nodes created at once, or the job that imports a large file."""

    created: list[Node] = field(default_factory=list)
    job: object | None = None


def start_import(user, content: str, fmt: str) -> ImportStarted:
    """The one entry point of the API, the page and the admin."""
    check_may_import(user)
    rows = parse(content, fmt)
    if len(rows) > settings.NODES_IMPORT_SYNC_MAX_ROWS:
        from .import_job import start_import_job

        return ImportStarted(job=start_import_job(user, rows, fmt))
    return ImportStarted(created=import_rows(user, rows))


"""Bulk import of nodes from CSV, JSON or YAML (the seed's host file), all or nothing.

Every row is validated first; a single bad row imports nothing and the answer names each bad
row (1-based, as in the file) and field. Columns/keys: name, address, ssh_port, ssh_user,
ssh_credential (secret name), labels (list, or 'a;b' in CSV), project (name), host_key
("ssh-ed25519 AAAA..."), bmc_driver, bmc_address, bmc_port, bmc_credential, bmc_system_id.
"""
from __future__ import annotations

import csv
import io
import json

import yaml
from django.db import transaction

from apps.core.audit import record_audit
from apps.core.errors import InvalidInput

from . import services
from .api.serializers import BmcWriteSerializer, NodeSerializer

MAX_ROWS = 5000
BMC_FIELDS = {"bmc_driver": "driver", "bmc_address": "address", "bmc_port": "port",
              "bmc_credential": "credential", "bmc_system_id": "system_id"}


def parse(content: str, fmt: str) -> list[dict]:
    try:
        if fmt == "csv":
            rows = [dict(r) for r in csv.DictReader(io.StringIO(content))]
        elif fmt == "json":
            rows = json.loads(content)
        elif fmt in ("yaml", "yml"):
            rows = yaml.safe_load(content)
        else:
            raise InvalidInput({"format": ["Use csv, json or yaml."]})
    except (json.JSONDecodeError, yaml.YAMLError, csv.Error) as exc:
        raise InvalidInput({"file": [f"Cannot parse the {fmt} file: {exc}"]}) from None
    if isinstance(rows, dict) and isinstance(rows.get("nodes"), list):
        rows = rows["nodes"]
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise InvalidInput({"file": ["Expected a list of nodes (or {\"nodes\": [...]})."]})
    if len(rows) > MAX_ROWS:
        raise InvalidInput({"file": [f"At most {MAX_ROWS} nodes per import."]})
    return [_normalise(row, fmt) for row in rows]


def _normalise(row: dict, fmt: str) -> dict:
    row = {str(k).strip(): (v.strip() if isinstance(v, str) else v) for k, v in row.items() if k is not None}
    row = {k: v for k, v in row.items() if v not in ("", None)}
    if isinstance(row.get("labels"), str):
        row["labels"] = [p.strip() for p in row["labels"].replace(",", ";").split(";") if p.strip()]
    if isinstance(row.get("host_key"), str):
        row["known_host_keys"] = [row.pop("host_key")]
    return row


def validate(user, rows: list[dict]) -> tuple[list[tuple[dict, dict | None]], list[dict]]:
    valid, errors = [], []
    names = set()
    for number, row in enumerate(rows, start=1):
        bmc_raw = {BMC_FIELDS[k]: row.pop(k) for k in list(row) if k in BMC_FIELDS}
        node = NodeSerializer(data=row, context={"user": user})
        row_errors = {} if node.is_valid() else dict(node.errors)
        if row.get("name") in names:
            row_errors["name"] = ["Appears twice in this file."]
        names.add(row.get("name"))
        bmc = None
        if bmc_raw:
            bmc = BmcWriteSerializer(data=bmc_raw)
            if not bmc.is_valid():
                row_errors.update({f"bmc_{k}": v for k, v in bmc.errors.items()})
        if row_errors:
            errors.append({"row": number, "name": row.get("name"), "errors": row_errors})
        else:
            valid.append((node.validated_data, bmc.validated_data if bmc else None))
    return valid, errors


def import_nodes(user, content: str, fmt: str) -> list:
    rows = parse(content, fmt)
    valid, errors = validate(user, rows)
    if errors:
        raise InvalidInput({"rows": errors})
    created = []
    with transaction.atomic():  # nothing half-imported: any failure rolls every row back
        for data, bmc in valid:
            host_keys = data.pop("known_host_keys", [])
            node = services.create_node(user, host_keys=host_keys, **data)
            if bmc:
                services.set_bmc(user, node, **bmc)
            created.append(node)
        record_audit("node.import", actor=user, after={"count": len(created), "format": fmt,
                                                       "names": [n.name for n in created][:50]})
    return created


def read_upload(data: dict) -> tuple[str, str]:
    """The file's text and format from an upload or inline content."""
    upload = data.get("file")
    if upload is not None:
        content = upload.read(5_000_001)
        if len(content) > 5_000_000:
            raise InvalidInput({"file": ["The file is larger than 5 MB."]})
        fmt = data.get("format") or upload.name.rsplit(".", 1)[-1].lower()
        try:
            return content.decode("utf-8-sig"), fmt
        except UnicodeDecodeError:
            raise InvalidInput({"file": ["The file is not UTF-8 text."]}) from None
    if "content" not in data:
        raise InvalidInput({"file": ["Send a file, or content with a format."]})
    if not data.get("format"):
        raise InvalidInput({"format": ["Say which format the content is in (csv, json, yaml)."]})
    return data["content"], data["format"]

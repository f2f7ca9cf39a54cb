#!/usr/bin/env python3
"""Vendor the page kit's front-end packages from the npm registry into static/vendor/.

Stdlib only, so it runs before any virtualenv exists. Each package is pinned to an exact
version; its tarball is checked against the registry's `dist.integrity` (SRI sha512) before
anything is extracted, and only the dist files the templates load are kept. The result is
recorded in static/vendor/VERSIONS.json with a sha256 per file, which the test suite checks,
so nothing is fetched at run time and the vendored bytes are reproducible.

    python3 scripts/vendor_assets.py            # fetch, verify, extract, write VERSIONS.json
    python3 scripts/vendor_assets.py --check    # only verify the files on disk against VERSIONS.json
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import sys
import tarfile
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENDOR_DIR = ROOT / "static" / "vendor"
VERSIONS_FILE = VENDOR_DIR / "VERSIONS.json"
REGISTRY = os.environ.get("NPM_REGISTRY", "https://registry.npmjs.org").rstrip("/")


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    files: tuple[str, ...]  # paths inside the tarball's package/ folder

    @property
    def folder(self) -> str:
        return self.name.replace("/", "-").lstrip("@")


PACKAGES = (
    Package("bootstrap", "5.3.9", ("dist/css/bootstrap.min.css", "dist/js/bootstrap.bundle.min.js", "LICENSE")),
    Package("htmx.org", "2.0.11", ("dist/htmx.min.js", "LICENSE")),
    Package("uplot", "1.6.32", ("dist/uPlot.iife.min.js", "dist/uPlot.min.css", "LICENSE")),
    Package("axe-core", "4.14.1", ("axe.min.js", "LICENSE")),
)


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 - fixed https registry
        return response.read()


def registry_metadata(package: Package) -> dict:
    name = urllib.parse.quote(package.name, safe="@")
    return json.loads(fetch(f"{REGISTRY}/{name}/{package.version}"))


def verify_integrity(data: bytes, integrity: str) -> None:
    """Check the tarball against an SRI string such as 'sha512-<base64>'."""
    algorithm, _, expected = integrity.partition("-")
    if algorithm not in {"sha512", "sha384", "sha256"}:
        raise SystemExit(f"unsupported integrity algorithm {algorithm!r}")
    actual = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    if actual != expected:
        raise SystemExit(f"integrity mismatch: expected {integrity}, got {algorithm}-{actual}")


def extract(package: Package, tarball: bytes) -> dict[str, str]:
    """Write the wanted files under static/vendor/<folder>/ and return {relative path: sha256}."""
    target = VENDOR_DIR / package.folder
    recorded: dict[str, str] = {}
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        for wanted in package.files:
            member = archive.getmember(f"package/{wanted}")
            content = archive.extractfile(member).read()
            destination = target / Path(wanted).name
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(content)
            recorded[destination.relative_to(VENDOR_DIR).as_posix()] = hashlib.sha256(content).hexdigest()
    return recorded


def vendor() -> None:
    versions = []
    for package in PACKAGES:
        dist = registry_metadata(package)["dist"]
        tarball = fetch(dist["tarball"])
        verify_integrity(tarball, dist["integrity"])
        files = extract(package, tarball)
        versions.append({"name": package.name, "version": package.version,
                         "integrity": dist["integrity"], "tarball": dist["tarball"], "files": files})
        print(f"{package.name}@{package.version}: {len(files)} files")
    VERSIONS_FILE.write_text(json.dumps(versions, indent=2) + "\n")


def check() -> int:
    problems = []
    for entry in json.loads(VERSIONS_FILE.read_text()):
        for relative, sha256 in entry["files"].items():
            path = VENDOR_DIR / relative
            if not path.is_file():
                problems.append(f"missing {relative}")
            elif hashlib.sha256(path.read_bytes()).hexdigest() != sha256:
                problems.append(f"changed {relative}")
    print("\n".join(problems) or "static/vendor matches VERSIONS.json")
    return 1 if problems else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="verify vendored files, fetch nothing")
    if parser.parse_args().check:
        return check()
    vendor()
    return check()


if __name__ == "__main__":
    sys.exit(main())

"""The layering of DESIGN.md ("Layout"), enforced on the source.

Core is the ground floor and imports no other app; rbac stands on core; keyvault and jobs stand
on rbac (both check permissions with it) and not on each other; the domain apps stand on those.
A module may import its own app and any app on a lower floor, never one on its own floor or
above: what a lower app needs from a higher one (dashboard panels, /metrics collectors, search,
job kinds) it gets through a registry the higher app fills in its AppConfig.ready().

Every import counts, at module level or inside a function, absolute or relative, and so do lazy
references by app label ("keyvault.Secret" in a ForeignKey or a migration, apps.get_model()).
Production code (apps/, aimatrix/) imports nothing from devtools/ or tests/: the production image
has neither.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Floors, lowest first. A new app gets its floor here before its first import can pass.
LAYERS = {
    "core": 0,
    "rbac": 1,
    "keyvault": 2,
    "jobs": 2,
    "events": 3,       # events, rules, alerts: nodes and GPUs publish into it
    "nodes": 4,
    "gpus": 5,         # GPUs live on nodes
    "clusters": 6,     # Slurm partitions are made of nodes and their GPUs
    "allocations": 7,  # places GPU requests on clusters and nodes
}
# Settings import no app code; the one exception is a plain data module (no Django models).
SETTINGS_MODULES = {"aimatrix/settings.py", "aimatrix/env.py", "aimatrix/ldap_settings.py"}
SETTINGS_MAY_IMPORT = {"apps.rbac.roles"}
# Django's own labels that lazy references may name.
FRAMEWORK_LABELS = {"auth", "contenttypes", "sessions", "admin", "guardian", "axes", "django_celery_beat",
                    "django_celery_results", "authtoken", "self"}
MODEL_FIELDS = {"ForeignKey", "OneToOneField", "ManyToManyField"}


@dataclass(frozen=True)
class Reference:
    path: str     # relative to the repository root
    line: int
    target: str   # a dotted module, or "label:<app label>" for a lazy model reference

    def __str__(self):
        return f"{self.path}:{self.line} -> {self.target}"


def production_files() -> list[Path]:
    return sorted(p for folder in ("apps", "aimatrix") for p in (ROOT / folder).rglob("*.py"))


def _package_of(rel: str) -> list[str]:
    """The package a module's relative imports start from: its folder, as dotted parts."""
    return list(Path(rel).parent.parts)


def references(path: Path, root: Path = ROOT) -> list[Reference]:
    """Every module imported and every app label named lazily by one file."""
    rel = path.relative_to(root).as_posix()
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=rel)):
        if isinstance(node, ast.Import):
            found += [Reference(rel, node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = _package_of(rel)
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append(Reference(rel, node.lineno, module))
            # `from apps import nodes` imports the app itself.
            found += [Reference(rel, node.lineno, f"{module}.{alias.name}") for alias in node.names
                      if module in ("apps", "")]
        elif isinstance(node, ast.Call):
            found += _lazy_references(rel, node)
    return found


def _lazy_references(rel: str, call: ast.Call) -> list[Reference]:
    name = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
    texts = []
    if name in MODEL_FIELDS:
        texts = [a.value for a in call.args[:1] if isinstance(a, ast.Constant) and isinstance(a.value, str)]
        texts += [k.value.value for k in call.keywords
                  if k.arg == "to" and isinstance(k.value, ast.Constant) and isinstance(k.value.value, str)]
        texts = [t.split(".")[0] for t in texts if "." in t]
    elif name == "get_model" and call.args and isinstance(call.args[0], ast.Constant):
        texts = [str(call.args[0].value).split(".")[0]]
    elif name == "import_module" and call.args and isinstance(call.args[0], ast.Constant):
        return [Reference(rel, call.lineno, str(call.args[0].value))]
    return [Reference(rel, call.lineno, f"label:{label.lower()}") for label in texts]


def app_of_path(rel: str) -> str | None:
    parts = rel.split("/")
    return parts[1] if parts[0] == "apps" and len(parts) > 2 else None


def target_app(target: str) -> str | None:
    if target.startswith("label:"):
        return target.removeprefix("label:")
    parts = target.split(".")
    return parts[1] if parts[0] == "apps" and len(parts) > 1 else None


def violations(refs: list[Reference]) -> list[str]:
    problems = []
    for ref in refs:
        top = ref.target.split(".")[0]
        if top in ("devtools", "tests"):
            problems.append(f"{ref}: production code imports {top}/")
            continue
        source, target = app_of_path(ref.path), target_app(ref.target)
        if ref.path in SETTINGS_MODULES and ref.target.startswith("apps") and ref.target not in SETTINGS_MAY_IMPORT:
            problems.append(f"{ref}: settings import app code")
        if source is None or target is None or target == source or target in FRAMEWORK_LABELS:
            continue
        if target not in LAYERS:
            problems.append(f"{ref}: app {target!r} has no floor in LAYERS")
        elif LAYERS[target] >= LAYERS[source]:
            problems.append(f"{ref}: {source} (floor {LAYERS[source]}) imports {target} (floor {LAYERS[target]})")
    return problems


def test_every_app_has_a_floor():
    apps = {p.name for p in (ROOT / "apps").iterdir() if (p / "apps.py").exists()}
    assert apps - set(LAYERS) == set()


def test_no_app_imports_its_own_floor_or_above_and_production_code_imports_no_devtools():
    refs = [ref for path in production_files() for ref in references(path)]
    assert len(refs) > 100  # the walk found the code it is meant to check
    assert violations(refs) == []


@pytest.mark.parametrize("source, expected", [
    # A function-level import of a higher app, from core.
    ("apps/core/metrics.py", "def collect():\n    from apps.jobs.models import Job\n"),
    # A relative import that climbs out of the app.
    ("apps/core/api/views.py", "from ...nodes import services\n"),
    ("apps/rbac/services.py", "import apps.keyvault.services\n"),
    ("apps/jobs/views.py", "from apps import keyvault\n"),           # siblings stand side by side
    ("apps/core/models.py", "x = models.ForeignKey('nodes.Node', on_delete=None)\n"),
    ("apps/core/migrations/0009_x.py", "f = models.ForeignKey(on_delete=None, to='jobs.job')\n"),
    ("apps/core/views.py", "Job = apps.get_model('jobs', 'Job')\n"),
    ("apps/core/views.py", "m = importlib.import_module('apps.nodes.services')\n"),
    ("apps/nodes/management/commands/lab_register.py", "def handle():\n    from devtools.lab import Inventory\n"),
    ("aimatrix/urls.py", "from tests.conftest import x\n"),
    ("aimatrix/settings.py", "from apps.nodes.models import Node\n"),
    ("apps/gpus/models.py", "from apps.weather import forecast\n"),   # an app without a floor
])
def test_the_check_catches(tmp_path, source, expected):
    """Each way a forbidden import can be written is found (the check is not vacuous)."""
    fake = tmp_path / source
    fake.parent.mkdir(parents=True)
    fake.write_text(expected)
    found = violations(references(fake, root=tmp_path))
    assert len(found) == 1 and found[0].startswith(f"{source}:"), found


@pytest.mark.parametrize("source, allowed", [
    ("apps/nodes/services.py", "from apps.keyvault.services import check_binding\n"),
    ("apps/jobs/services.py", "def f():\n    from apps.rbac.permissions import can\n"),
    ("apps/nodes/api/views.py", "from ..services import visible_nodes\n"),
    ("apps/nodes/models.py", "x = models.ForeignKey('keyvault.Secret', on_delete=None)\n"),
    ("apps/core/models.py", "x = models.ForeignKey('contenttypes.ContentType', on_delete=None)\n"),
    ("aimatrix/ldap_settings.py", "def f():\n    from apps.rbac.roles import ROLE_TEMPLATES\n"),
    ("aimatrix/urls.py", "from apps.nodes import urls\n"),
])
def test_the_check_allows(tmp_path, source, allowed):
    fake = tmp_path / source
    fake.parent.mkdir(parents=True)
    fake.write_text(allowed)
    refs = references(fake, root=tmp_path)
    assert refs and violations(refs) == []

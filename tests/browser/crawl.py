"""What the browser crawl visits and expects, derived from the URL conf and the contract table.

Pages: every GET route of the URL conf outside `/api/` and the admin (the admin index aside), so
a page added later is crawled without touching this file. Its `{pk}`-style parameters are filled
from the contract world (tests/contract/world.py); a parameter the world cannot fill fails with
its name. The expected status per role is the one tests/contract/expectations.py declares.

Markup probes: text fields of the world's objects hold a fragment of HTML with a class and a
script; a page that renders it as markup (instead of as text) shows an element with that class or
runs the script.
"""
from __future__ import annotations

from ..contract.expectations import TABLE
from ..contract.routes import http_routes
from ..contract.spec import case, expand

# GET routes that answer something other than an HTML page, and why.
NOT_PAGES = {
    "/jobs/{pk}/log.txt": "the job log as a plain-text download",
    "/metrics": "Prometheus text format",
    "/favicon.ico": "a redirect to the vendored SVG icon",
    "/agent/aimatrix-agent.pyz": "the node agent as a zip application download",
}
ADMIN_INDEX = "/admin/"

PROBE_CLASS = "xss-probe"
# At most 53 characters, so it fits the shortest name field it is put into (63).
PROBE = f'<b class="{PROBE_CLASS}">B</b><script>xssProbe=1</script>'

# Collects what a page must not have: markup made from the probe (an element with the probe's
# class, or the probe's script having run).
MARKUP_CHECK = f"""() => {{
  const found = [];
  if (document.querySelector(".{PROBE_CLASS}")) found.push("an element with class {PROBE_CLASS}");
  if (window.xssProbe !== undefined) found.push("the probe's <script> ran");
  return found;
}}"""
PROBE_SHOWN = f"() => document.body.innerText.includes('class=\"{PROBE_CLASS}\"')"


def _declared_get(template: str):
    methods = TABLE.get(template)
    if methods is None or "GET" not in methods:
        raise AssertionError(f"GET {template} is a page with no GET expectation in tests/contract/expectations.py")
    return case(methods["GET"])


def page_templates() -> list[str]:
    """Every server-rendered GET page of the portal, as route templates, sorted."""
    pages = []
    for template, route in http_routes().items():
        if template.startswith("/api/") or (template.startswith("/admin/") and template != ADMIN_INDEX):
            continue
        if template in NOT_PAGES:
            continue
        # A function view takes any method: the contract table says whether GET is one of them.
        answers_get = "GET" in route.methods or (route.is_function_view and "GET" in TABLE.get(template, {}))
        if answers_get:
            pages.append(template)
    return sorted(pages)


def expected_status(template: str, role: str) -> tuple[int, str]:
    """(status the first response must have, known-bug reason or "")."""
    declared = _declared_get(template)
    code = expand(declared.expect, template)[role]
    return int(str(code).split()[0]), declared.bugs.get(role, "")


def add_probes(world) -> None:
    """Put the probe into the text fields every page kind shows: names, descriptions, labels,
    facts, reasons, log lines, audit entries. Written with update() on purpose: validation would
    refuse some of it, and what is tested here is the rendering, whatever reached the database."""
    from django.contrib.auth import get_user_model

    from apps.core.models import AuditEvent
    from apps.jobs.events import append_event
    from apps.jobs.models import Job
    from apps.keyvault.models import OneTimeToken, Secret
    from apps.nodes import facts
    from apps.nodes.models import HostKey, Node, NodeEvent
    from apps.rbac.models import Project

    o = world.objects
    node_facts = facts.parse({"hostname": PROBE, "cpuinfo": '{"lscpu": [{"field": "Model name:", "data": "%s"}]}'
                              % PROBE.replace('"', '\\"'), "gpus": f"0, {PROBE}, 81920, GPU-probe"})
    Node.objects.filter(pk=o["node"].pk).update(name=PROBE, state_reason=PROBE, labels=["gpu", PROBE],
                                                facts=node_facts)
    HostKey.objects.filter(pk=o["hostkey"].pk).update(fingerprint=PROBE)
    NodeEvent.objects.filter(pk=o["nodeevent"].pk).update(message=PROBE)
    Secret.objects.update(description=PROBE)
    OneTimeToken.objects.update(subject=PROBE)
    Project.objects.update(description=PROBE)
    Project.objects.filter(name="matrix-elsewhere").update(name="x" + PROBE)
    get_user_model().objects.filter(pk=o["member"].pk).update(first_name=PROBE, last_name=PROBE)
    Job.objects.update(target_repr=PROBE)
    Job.objects.filter(pk=o["finished_job"].pk).update(error=PROBE)
    append_event(o["job"].pk, "step", PROBE, step=PROBE, progress=40, publish=False)
    append_event(o["job"].pk, "log", PROBE, host=PROBE, publish=False)
    AuditEvent.objects.update(object_repr=PROBE)

"""The fleet dashboard: every number counts only what the user may see, links to the filtered
list showing exactly the rows it counts, and renders in a constant number of queries."""
import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.core import dashboard
from apps.jobs import dashboard as job_panels
from apps.jobs.models import Job, JobStatus
from apps.keyvault.services import create_secret
from apps.nodes import dashboard as node_panels
from apps.nodes.models import Bmc, HostKey, HostKeyState, Node, NodeState
from apps.rbac import services as rbac

pytestmark = pytest.mark.django_db

NODE_ROW = re.compile(r'name="pk" value="\d+" class="form-check-input kit-select" aria-label="Select ([^"]+)"')
JOB_ROW = re.compile(r'<td[^>]*><a href="/jobs/(\d+)/">')


def listed(client, url, pattern) -> list[str]:
    resp = client.get(url)
    assert resp.status_code == 200, url
    return pattern.findall(resp.content.decode())


def make_fleet(admin, count: int, project=None, prefix="n") -> list[Node]:
    """`count` nodes spread over states, power states, pending host keys and BMC poll errors."""
    secret = create_secret(admin, name=f"{prefix}-bmc", kind="bmc_credentials", value="user:pass")
    states = list(NodeState)
    powers = ["on", "off", "", "unknown", None]  # None: no BMC; "": never polled
    nodes = Node.objects.bulk_create(
        Node(name=f"{prefix}{i:04d}", address=f"10.0.{i // 250}.{i % 250 + 1}", state=states[i % len(states)],
             project=project) for i in range(count))
    Bmc.objects.bulk_create(
        Bmc(node=node, driver="redfish", address="https://10.9.0.1", credential=secret,
            power_state=powers[i % len(powers)], poll_error="timed out <b>reading</b>" if i % 3 == 0 else "")
        for i, node in enumerate(nodes) if powers[i % len(powers)] is not None)
    HostKey.objects.bulk_create(
        HostKey(node=node, key_type="ssh-ed25519", public_key=f"KEY{node.pk}", fingerprint=f"SHA256:{node.pk}",
                state=HostKeyState.PENDING if i % 4 == 0 else HostKeyState.TRUSTED)
        for i, node in enumerate(nodes))
    return nodes


def make_jobs(user, count: int, error="disk <script>alert(1)</script> full") -> list[Job]:
    statuses = list(JobStatus)
    now = timezone.now()
    jobs = [Job.objects.create(kind="core.selfcheck", requester=user, status=statuses[i % len(statuses)],
                               error=error if statuses[i % len(statuses)] == JobStatus.FAILED else "",
                               finished_at=now) for i in range(count)]
    # Spread over the last 30 hours: some fall outside the 24 h window.
    for i, job in enumerate(jobs):
        Job.objects.filter(pk=job.pk).update(created_at=now - timedelta(minutes=37 * i % (30 * 60)))
    return jobs


def test_panels_are_registered_in_bands():
    order = {p.name: p.order for p in dashboard.panels()}
    assert order["jobs.counts"] == dashboard.PanelOrder.SUMMARY < order["nodes.fleet"] == dashboard.PanelOrder.FLEET
    assert order["nodes.fleet"] < order["jobs.activity"] < order["jobs.failures"] < order["jobs.recent"]
    assert dashboard.PanelOrder.FLEET < dashboard.PanelOrder.CAPACITY < dashboard.PanelOrder.ACTIVITY


def test_each_fleet_number_links_to_exactly_the_nodes_it_counts(admin, client):
    nodes = make_fleet(admin, 40)
    client.force_login(admin)
    panel = node_panels.fleet(admin)
    html = client.get("/").content.decode()
    links = [(panel["total"], panel["list_url"]), (panel["ready"], panel["ready_url"]),
             (panel["unreachable"], panel["unreachable_url"]),
             (panel["pending_host_keys"], panel["pending_host_keys_url"]),
             (panel["bmc_poll_errors"], panel["bmc_poll_errors_url"])]
    links += [(s["count"], s["url"]) for s in panel["states"]]
    links += [(p["count"], p["url"]) for p in panel["power_states"]]
    for count, url in links:
        assert f'href="{url.replace("&", "&amp;")}"' in html, url
        assert len(listed(client, url, NODE_ROW)) == count, url
    # The numbers are the fleet's, computed independently here.
    pending = {n.name for n in nodes if HostKey.objects.filter(node=n, state="pending").exists()}
    assert set(listed(client, panel["pending_host_keys_url"], NODE_ROW)) == pending
    failed_polls = set(Bmc.objects.exclude(poll_error="").values_list("node__name", flat=True))
    assert set(listed(client, panel["bmc_poll_errors_url"], NODE_ROW)) == failed_polls
    assert panel["total"] == 40 and sum(p["count"] for p in panel["power_states"]) == 40
    power = {p["value"]: p["count"] for p in panel["power_states"]}
    assert power == {"on": 8, "off": 8, "unknown": 16, "none": 8}
    assert panel["unreachable"] == Node.objects.filter(state="unreachable").count() == 8
    # Poll errors are shown as text, never as markup.
    assert "timed out &lt;b&gt;reading&lt;/b&gt;" in html and "<b>reading</b>" not in html


def test_node_filters_for_the_dashboard_links(admin, client):
    make_fleet(admin, 10)
    client.force_login(admin)
    without_bmc = set(Node.objects.filter(bmc__isnull=True).values_list("name", flat=True))
    assert set(listed(client, "/nodes/?power_state=none", NODE_ROW)) == without_bmc
    no_error = set(Node.objects.exclude(bmc__poll_error__gt="").values_list("name", flat=True))
    assert set(listed(client, "/nodes/?bmc_poll_error=false", NODE_ROW)) == no_error
    no_pending = set(Node.objects.exclude(host_keys__state="pending").values_list("name", flat=True))
    assert set(listed(client, "/nodes/?pending_host_keys=false", NODE_ROW)) == no_pending
    # The list's filter form shows the dashboard's filter as chosen, so a new filter keeps it.
    html = client.get("/nodes/?power_state=off&bmc_poll_error=true").content.decode()
    assert '<option value="off" selected>' in html and '<option value="true" selected>' in html
    # An unknown power state is a form error the list ignores, not a 500.
    assert client.get("/nodes/?power_state=%3Cx%3E").status_code == 200


def test_jobs_chart_and_links_count_exactly_the_jobs_of_the_window(admin, client):
    make_jobs(admin, 60)
    client.force_login(admin)
    panel = job_panels.job_activity(admin)
    since = panel["since"]
    in_window = Job.objects.filter(created_at__gte=since)
    assert panel["total"] == in_window.count() and 0 < panel["total"] < 60
    assert len(panel["chart"]["x"]) == 24 and all(len(s["values"]) == 24 for s in panel["chart"]["series"])
    for s in panel["statuses"]:
        expected = {str(pk) for pk in in_window.filter(status=s["value"]).values_list("pk", flat=True)}
        assert sum(next(c for c in panel["chart"]["series"] if c["status"] == s["value"])["values"]) == s["total"]
        assert set(listed(client, s["url"], JOB_ROW)) == expected and len(expected) == s["total"], s
    html = client.get("/").content.decode()
    # The chart's data is embedded as JSON (json_script), drawn by the vendored uPlot.
    assert '<script id="jobs-activity-data" type="application/json">' in html
    assert "vendor/uplot/uPlot.iife.min.js" in html and "js/dashboard-charts.js" in html
    assert 'data-table="jobs-activity"' in html
    html = client.get(panel["statuses"][0]["url"]).content.decode()
    assert f'name="created_after" value="{since.isoformat()}"' in html and 'data-filter="created_after"' in html
    counts = job_panels.job_counts(admin)
    assert len(listed(client, counts["links"]["failed_24h"], JOB_ROW)) == counts["failed_24h"]
    assert len(listed(client, counts["links"]["active"], JOB_ROW)) == counts["active"]
    # The tiles and the chart count the same window.
    totals = {s["value"]: s["total"] for s in panel["statuses"]}
    assert (counts["failed_24h"], counts["succeeded_24h"]) == (totals["failed"], totals["succeeded"])


def test_recent_failures_show_their_reasons_escaped(admin, client):
    make_jobs(admin, 10)
    client.force_login(admin)
    html = client.get("/").content.decode()
    section = html[html.index('data-list="jobs-failures"'):]
    assert "disk &lt;script&gt;alert(1)&lt;/script&gt; full" in section
    assert "<script>alert(1)" not in html


def test_a_user_of_another_project_sees_only_their_own(admin, make_user, client):
    make_fleet(admin, 12)
    make_jobs(admin, 10)
    dev = make_user("dev")
    dev.groups.add(Group.objects.get(name="engineer"))
    team = rbac.create_project(None, "team", owner=dev)
    mine = make_fleet(admin, 3, project=team, prefix="team")
    make_jobs(dev, 2, error="")
    client.force_login(dev)
    fleet = node_panels.fleet(dev)
    assert fleet["total"] == 3 and sum(s["count"] for s in fleet["states"]) == 3
    assert set(listed(client, fleet["list_url"], NODE_ROW)) == {n.name for n in mine}
    assert job_panels.job_counts(dev)["total"] == 2
    assert job_panels.job_activity(dev)["total"] == 2  # both were created inside the 24 h window
    html = client.get("/").content.decode()
    assert 'data-count="nodes-total">3<' in html and 'data-count="jobs-total">2<' in html
    assert "n0000" not in html and "alert(1)" not in html
    # Someone with no project and no jobs sees empty panels, not the fleet's numbers.
    client.force_login(make_user("nobody"))
    html = client.get("/").content.decode()
    assert 'data-count="nodes-total">0<' in html and "make lab" in html
    assert 'data-panel="nodes.attention"' not in html


@pytest.mark.parametrize("size", [10, 200])
def test_dashboard_query_count_does_not_grow_with_rows(admin, client, size):
    make_fleet(admin, size)
    make_jobs(admin, size)
    client.force_login(admin)
    client.get("/")  # warm caches (content types, permissions)
    with CaptureQueriesContext(connection) as queries:
        resp = client.get("/")
    assert resp.status_code == 200
    # The same for 10 and 200 rows: session, user, then a fixed number per panel.
    assert len(queries) <= 12, [q["sql"] for q in queries]
    test_dashboard_query_count_does_not_grow_with_rows.counts[size] = len(queries)
    if len(test_dashboard_query_count_does_not_grow_with_rows.counts) == 2:
        assert len(set(test_dashboard_query_count_does_not_grow_with_rows.counts.values())) == 1


test_dashboard_query_count_does_not_grow_with_rows.counts = {}

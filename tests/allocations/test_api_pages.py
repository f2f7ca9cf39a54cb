"""API and pages: request (own body and the seed's), list/detail scoped to the user's projects,
approve / reject / extend / cancel / release (DELETE), availability; the request form with its
availability check, the approval queue and the detail page; GPU holders."""
import datetime as dt

import pytest
from django.urls import reverse

from apps.allocations.models import Allocation
from apps.core.models import AuditEvent
from apps.gpus import holders

from .conftest import add_node, set_quota

pytestmark = pytest.mark.django_db


def _iso(value):
    return value.isoformat()


def test_api_request_list_detail_release(team, dev, api, make_user, now, hours):
    add_node("n1", gpus=4)
    client = api(dev)
    answer = client.post("/api/v1/allocations/", {"project": "team", "gpu_count": 2, "start": _iso(now),
                                                 "end": _iso(now + hours(2)), "gpu_model": "H100",
                                                 "purpose": "training"}, format="json")
    assert answer.status_code == 201, answer.json()
    body = answer.json()
    assert body["state"] == "active" and len(body["gpus"]) == 2 and body["project"] == "team"
    listed = client.get("/api/v1/allocations/").json()
    assert [row["id"] for row in listed["results"]] == [body["id"]]
    # An outsider sees nothing and reaches nothing.
    outsider = api(make_user("outsider", "allocations.view_allocation", "allocations.cancel_allocation"))
    assert outsider.get("/api/v1/allocations/").json()["results"] == []
    assert outsider.get(f"/api/v1/allocations/{body['id']}/").status_code == 404
    assert outsider.delete(f"/api/v1/allocations/{body['id']}/").status_code == 404
    before = AuditEvent.objects.count()
    released = client.delete(f"/api/v1/allocations/{body['id']}/")
    assert released.status_code == 200 and released.json()["state"] == "released"
    assert AuditEvent.objects.count() == before + 1
    again = client.delete(f"/api/v1/allocations/{body['id']}/")
    assert again.status_code == 409 and "released" in str(again.json())


def test_api_seed_body(team, dev, api):
    node = add_node("server456", gpus=2)
    node.project = team  # dev sees it through its GPUs
    node.save()
    add_node("other", gpus=2)
    answer = api(dev).post("/api/v1/allocations/", {"user_id": "dev", "server_id": "server456",
                                                   "purpose": "AI training"}, format="json")
    assert answer.status_code == 201, answer.json()
    body = answer.json()
    assert body["gpu_count"] == 1 and body["requester"] == "dev" and body["nodes"] == [node.name]
    assert body["gpus"][0]["node"] == "server456"
    # user_id of someone else: only operators may.
    assert api(dev).post("/api/v1/allocations/", {"user_id": "owner", "server_id": "server456"},
                         format="json").status_code == 403


def test_api_no_fit_names_field_and_earliest(team, dev, api, now, hours):
    add_node("n1", gpus=2)
    client = api(dev)
    client.post("/api/v1/allocations/", {"project": "team", "gpu_count": 2, "start": _iso(now),
                                         "end": _iso(now + hours(2))}, format="json")
    answer = client.post("/api/v1/allocations/", {"project": "team", "gpu_count": 1, "start": _iso(now),
                                                  "end": _iso(now + hours(1))}, format="json")
    assert answer.status_code == 409
    assert "start" in answer.json() and dt.datetime.fromisoformat(answer.json()["earliest_start"]) == now + hours(2)
    wrong = client.post("/api/v1/allocations/", {"project": "team", "gpu_count": 1, "gpu_model": "B200",
                                                 "duration_hours": 1}, format="json")
    assert wrong.status_code == 409 and "gpu_model" in wrong.json()


def test_api_approval_flow(team, dev, owner, api, now, hours):
    add_node("n1", gpus=4)
    set_quota(team, gpus=1)
    created = api(dev).post("/api/v1/allocations/", {"project": "team", "gpu_count": 2, "start": _iso(now + hours(1)),
                                                     "duration_hours": 2}, format="json").json()
    assert created["state"] == "pending" and "quota of 1 GPUs" in created["approval_reason"]
    assert api(dev).post(f"/api/v1/allocations/{created['id']}/approve/", {}, format="json").status_code == 403
    approved = api(owner).post(f"/api/v1/allocations/{created['id']}/approve/", {"comment": "fine"}, format="json")
    assert approved.status_code == 200 and approved.json()["state"] == "approved"
    assert api(owner).post(f"/api/v1/allocations/{created['id']}/reject/", {"comment": "no"},
                           format="json").status_code == 409
    # Over the quota, an extension is the approvers' call: refused to the member, done by the owner.
    refused = api(dev).post(f"/api/v1/allocations/{created['id']}/extend/", {"hours": 1}, format="json")
    assert refused.status_code == 400 and "quota of 1 GPUs" in refused.json()["gpu_count"][0]
    extended = api(owner).post(f"/api/v1/allocations/{created['id']}/extend/", {"hours": 1}, format="json")
    assert extended.status_code == 200
    assert dt.datetime.fromisoformat(extended.json()["end"]) == now + hours(4)
    cancelled = api(dev).post(f"/api/v1/allocations/{created['id']}/cancel/", {}, format="json")
    assert cancelled.json()["state"] == "cancelled"


def test_api_availability(team, dev, api, now, hours):
    add_node("n1", gpus=4)
    add_node("a1", gpus=2, model="NVIDIA A100")
    api(dev).post("/api/v1/allocations/", {"project": "team", "gpu_count": 3, "start": _iso(now),
                                           "end": _iso(now + hours(2))}, format="json")
    body = api(dev).get("/api/v1/allocations/availability/",
                        {"start": _iso(now), "end": _iso(now + hours(1)), "model": "H100"}).json()
    assert body["models"] == [{"model": "NVIDIA H100 80GB HBM3", "free": 1, "total": 4}]
    assert body["nodes"] == []  # the nodes are in no project of dev's: only fleet totals
    bad = api(dev).get("/api/v1/allocations/availability/", {"start": _iso(now), "end": _iso(now - hours(1))})
    assert bad.status_code == 400 and "end" in bad.json()


def test_pages(client, team, dev, owner, now, hours):
    add_node("n1", gpus=4)
    set_quota(team, gpus=2)
    client.force_login(dev)
    form = {"project": team.pk, "gpu_count": 3, "duration_hours": 2, "purpose": "page"}
    preview = client.post(reverse("allocations:new"), {**form, "check": "1"})
    assert preview.status_code == 200 and b"4 free of 4" in preview.content
    assert not Allocation.objects.exists()
    made = client.post(reverse("allocations:new"), form)
    assert made.status_code == 302
    allocation = Allocation.objects.get()
    assert allocation.state == "pending"
    listed = client.get(reverse("allocations:list"))
    assert listed.status_code == 200 and f"#{allocation.pk}".encode() in listed.content
    assert f"#{allocation.pk}".encode() not in client.get(reverse("allocations:approvals")).content
    client.force_login(owner)
    assert f"#{allocation.pk}".encode() in client.get(reverse("allocations:approvals")).content
    detail = client.get(reverse("allocations:detail", args=[allocation.pk]))
    assert detail.status_code == 200 and b'id="allocation-approve"' in detail.content
    assert client.post(reverse("allocations:approve", args=[allocation.pk]), {"comment": "ok"}).status_code == 302
    assert Allocation.objects.get().state == "active"
    detail = client.get(reverse("allocations:detail", args=[allocation.pk]))
    assert b"pending -&gt; approved" in detail.content and b"approved -&gt; active" in detail.content
    assert client.post(reverse("allocations:release", args=[allocation.pk]), {"confirm": "yes"}).status_code == 302
    assert Allocation.objects.get().state == "released"


def test_gpu_holders_include_active_allocations(team, dev, now, hours):
    from apps.allocations import services

    add_node("n1", gpus=2)
    alloc = services.request_allocation(dev, project=team, gpu_count=1, start=now, end=now + hours(1))
    later = services.request_allocation(dev, project=team, gpu_count=1, start=now + hours(2), end=now + hours(3))
    held = holders.holders()
    gpu_id = alloc.gpus.get().gpu_id
    assert [h.kind for h in held[gpu_id]] == ["allocation"] and held[gpu_id][0].url == alloc.get_absolute_url()
    assert later.gpus.get().gpu_id not in held or later.gpus.get().gpu_id == gpu_id  # not yet active: not held


def test_node_and_gpu_pages_show_the_holding_allocation(client, root, team, dev, now, hours):
    from apps.allocations import services

    node = add_node("held-node", gpus=2)
    alloc = services.request_allocation(dev, project=team, gpu_count=1, start=now, end=now + hours(1))
    gpu_id = alloc.gpus.get().gpu_id
    client.force_login(root)
    node_page = client.get(reverse("nodes:detail", args=[node.pk])).content.decode()
    assert alloc.get_absolute_url() in node_page and "free" in node_page
    gpu_page = client.get(reverse("gpus:detail", args=[gpu_id])).content.decode()
    assert alloc.get_absolute_url() in gpu_page
    held = client.get(reverse("gpus:list") + "?allocated=true").content.decode()
    assert "held-node" in held


def test_the_live_preview_answers_from_a_half_filled_form(client, team, dev, now, hours):
    """The request page's availability card asks again on every change (htmx posts the form with
    check=1): with only the window and the model filled in it still answers, and books nothing."""
    add_node("n1", gpus=4)
    client.force_login(dev)
    page = client.get(reverse("allocations:new")).content.decode()
    assert 'hx-post="/allocations/new/"' in page and 'hx-select="#availability"' in page
    half = {"duration_hours": 2, "gpu_model": "H100", "check": "1"}  # no project, no GPU count yet
    preview = client.post(reverse("allocations:new"), half, HTTP_HX_REQUEST="true")
    assert preview.status_code == 200 and b"4 free of 4" in preview.content
    broken = client.post(reverse("allocations:new"), {**half, "duration_hours": "soon"}, HTTP_HX_REQUEST="true")
    assert broken.status_code == 400  # a window it cannot read: the card keeps what it showed
    assert not Allocation.objects.exists()

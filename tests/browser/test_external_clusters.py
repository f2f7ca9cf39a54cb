"""The seed's twelve external-cluster scenarios in the browser, against the lab's real `ext` Slurm
cluster (its own hosts, reached over real SSH) with a real worker running discovery and refresh:
open the page, fill the form, test the SSH connection, add the cluster, see it listed, refresh
it, delete it, the reuse options, reset the form, required-field validation, a connection
failure shown as an error, the cluster in the main cluster list."""
from __future__ import annotations

import os
import re

import pytest
from playwright.sync_api import expect

from apps.clusters.models import Cluster
from apps.nodes import services as nodes

from ..conftest import wait_for
from .conftest import login

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.live,
              pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (namespaces, users)")]
WAIT_MS = 60_000


def open_page(page, base):
    page.goto(f"{base}/clusters/external/")
    expect(page.locator("h1")).to_have_text("External clusters")


def fill(page, name, controller):
    page.fill("#id_name", name)
    page.select_option("#id_controller", label=controller)


def test_external_cluster_scenarios(live_server_url, live_worker, external_cluster, page):
    lab, controller = external_cluster["lab"], external_cluster["controller"]
    base = live_server_url
    login(page, base, "root")

    # 1. Open the page: the form and an empty list.
    open_page(page, base)
    expect(page.locator("#no-external-clusters")).to_be_visible()

    # 10. Required fields: nothing saved, each missing field says so under itself.
    page.click("#add-cluster")
    expect(page.locator("#id_name_error_1")).to_contain_text("required")
    expect(page.locator("#id_controller_error_1")).to_contain_text("required")
    assert not Cluster.objects.exists()

    # 9. Reset: typed values go, the reuse options come back on.
    fill(page, "typed", controller.name)
    page.uncheck("#id_reuse_munge")
    page.click("#reset-form")
    expect(page.locator("#id_name")).to_have_value("")
    expect(page.locator("#id_reuse_munge")).to_be_checked()

    # 2 + 3. Fill the form and test the SSH connection: a preview, nothing saved.
    fill(page, "ext", controller.name)
    with page.expect_navigation():
        page.click("#test-connection")
    expect(page.locator("#connection-preview")).to_contain_text("Connection works")
    expect(page.locator("#preview-name")).to_have_text(lab.name)
    expect(page.locator("#preview-nodes")).to_contain_text(str(len(lab.node_names)))
    expect(page.locator("#preview-version")).to_have_text(re.compile(r"^\d+\.\d+"))
    expect(page.locator("#preview-controller")).to_contain_text(lab.controller_host)
    expect(page.locator("#preview-partitions")).to_contain_text(lab.partition)
    expect(page.locator("#id_name")).to_have_value("ext")  # the form keeps what was typed
    assert not Cluster.objects.exists()

    # 8. Reuse options: accounting is left to the portal, config and munge stay the cluster's.
    page.uncheck("#id_reuse_database")
    # 4. Add the cluster: saved, discovery started.
    with page.expect_navigation(url=re.compile(r"/clusters/external/$")):
        page.click("#add-cluster")
    expect(page.locator(".messages")).to_contain_text("Connected ext")
    cluster = Cluster.objects.get(name="ext")
    assert (cluster.reuse_config, cluster.reuse_munge, cluster.reuse_database) == (True, True, False)

    # 5. See it listed (online once discovery has run, with its nodes).
    wait_for(lambda: Cluster.objects.get(pk=cluster.pk).status == "online", timeout=60, message="discovery")
    page.reload()
    row = page.locator('#external-clusters tr[data-cluster="ext"]')
    expect(row).to_contain_text("Online")
    expect(row).to_contain_text(str(len(lab.node_names)))
    expect(row).to_contain_text("config munge")

    # 12. The cluster is in the main cluster list too, and its page shows its nodes.
    page.goto(f"{base}/clusters/")
    expect(page.locator("#clusters")).to_contain_text("ext")
    page.click('#clusters a:has-text("ext")')
    expect(page.locator("#cluster-node-grid li")).to_have_count(len(lab.node_names))

    # 6. Refresh it: a job that succeeds.
    open_page(page, base)
    with page.expect_navigation(url=re.compile(r"/jobs/\d+/$")):
        page.click('#external-clusters button[aria-label="Refresh ext"]')
    expect(page.locator("#job-status")).to_have_text("succeeded", timeout=WAIT_MS)

    # 7. Delete it after the confirmation: gone from the portal, Slurm untouched.
    open_page(page, base)
    with page.expect_navigation(url=re.compile(rf"/clusters/{cluster.pk}/delete/$")):
        page.click('#external-clusters a[aria-label="Remove ext"]')
    expect(page.locator(".kit-confirm .alert")).to_contain_text("not touched")
    with page.expect_navigation(url=re.compile(r"/clusters/$")):
        page.click('button[name="confirm"][value="yes"]')
    expect(page.locator(".messages")).to_contain_text("Removed ext from the portal.")
    assert not Cluster.objects.exists()


def test_a_connection_failure_is_shown_as_an_error(live_server_url, external_cluster, page):
    admin, controller = external_cluster["admin"], external_cluster["controller"]
    nodes.create_node(admin, name="ext-dead", address=controller.address, ssh_port=1, ssh_user="aimx",
                      ssh_credential=controller.ssh_credential)
    login(page, live_server_url, "root")
    open_page(page, live_server_url)
    fill(page, "broken", "ext-dead")
    with page.expect_navigation():
        page.click("#test-connection")
    expect(page.locator("#connection-error")).to_contain_text("Could not read the cluster")
    expect(page.locator("#connection-error")).to_contain_text("ext-dead")
    assert not Cluster.objects.exists()

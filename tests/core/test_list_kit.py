"""The list-page kit (apps/core/list_views.py, tables.py, chips.py) on the node list: sorting,
bounded page sizes, per-user columns, CSV export of the filtered list, chips, empty state."""
import csv
import io

import pytest
from django.urls import reverse

from apps.core.models import TablePreference
from apps.nodes.models import Node, NodeState

pytestmark = pytest.mark.django_db
LIST = reverse("nodes:list")


@pytest.fixture
def fleet():
    return [Node.objects.create(name=f"n{i:02d}", address=f"10.0.0.{i}", state=NodeState.NEW if i % 2 else NodeState.READY)
            for i in range(1, 31)]


def _names(response):
    return [row.record.name for row in response.context["table"].page.object_list]


def test_sorting_by_a_column_and_ignoring_unknown_sort_keys(client, root, fleet):
    client.force_login(root)
    assert _names(client.get(LIST + "?sort=-name"))[0] == "n30"
    assert _names(client.get(LIST + "?sort=name"))[0] == "n01"
    # A key that is no column (or a column that cannot sort) is dropped, not passed to the database.
    response = client.get(LIST + "?sort=password&sort=hardware")
    assert response.status_code == 200 and _names(response)[0] == "n01"


def test_page_size_only_takes_the_offered_values(client, root, fleet):
    client.force_login(root)
    assert len(_names(client.get(LIST + "?per_page=25"))) == 25
    assert len(_names(client.get(LIST + "?per_page=100000"))) == 30  # falls back to 50 a page
    assert client.get(LIST + "?per_page=100000").context["table"].paginator.per_page == 50
    assert client.get(LIST + "?page=99&per_page=25").context["table"].page.number == 2  # past the end: last


def test_csv_export_is_the_whole_filtered_list_with_formulas_neutralised(client, root, fleet):
    Node.objects.filter(name="n01").update(labels=["=HYPERLINK(evil)"])
    client.force_login(root)
    response = client.get(LIST + "?state=new&export=csv&per_page=25")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["Name", "Address", "State"]
    assert [r[0] for r in rows[1:]] == [f"n{i:02d}" for i in range(1, 31, 2)]  # all 15 new ones, not a page
    assert rows[1][3] == "'=HYPERLINK(evil)"


def test_column_choice_is_kept_per_user(client, root, make_user, fleet):
    client.force_login(root)
    response = client.post(reverse("table-columns"), {"table": "nodes.NodeTable", "columns": ["address", "state"],
                                                      "next": LIST})
    assert response.status_code == 302 and response["Location"] == LIST
    assert set(TablePreference.objects.get(user=root).hidden_columns) == {
        "labels", "hardware", "project", "bmc", "power", "last_seen"}
    shown = [c.name for c in client.get(LIST).context["table"].columns]
    assert shown == ["select", "name", "address", "state"]
    other = make_user("other", "nodes.view_node")
    client.force_login(other)
    assert "hardware" in [c.name for c in client.get(LIST).context["table"].columns]


@pytest.mark.parametrize("data, field", [({"table": "nope"}, "table"),
                                          ({"table": "nodes.NodeTable", "columns": ["ssh_credential"]}, "columns")])
def test_column_choice_refuses_unknown_tables_and_columns(client, root, data, field):
    client.force_login(root)
    response = client.post(reverse("table-columns"), data)
    assert response.status_code == 400 and response.content.decode().startswith(f"{field}:")
    assert not TablePreference.objects.exists()


def test_active_filters_are_chips_that_each_drop_one_value(client, root, fleet):
    client.force_login(root)
    response = client.get(LIST + "?state=new&state=ready&q=n0&page=2")
    chips = {(c["label"], c["value"]): c["remove_url"] for c in response.context["active_filters"]}
    assert set(chips) == {("State", "New"), ("State", "Ready"), ("Search", "n0")}
    assert chips[("State", "New")] == "?state=ready&q=n0"  # the other value stays, the page resets
    assert 'aria-label="Remove filter State New"' in response.content.decode()


def test_empty_state_guides_when_nothing_exists_and_the_table_says_when_nothing_matches(client, root):
    client.force_login(root)
    response = client.get(LIST)
    html = response.content.decode()
    assert response.context["is_empty"] and "No nodes yet" in html and "make lab" in html
    assert reverse("nodes:import") in html
    Node.objects.create(name="a1", address="10.0.0.1")
    html = client.get(LIST + "?q=zzz").content.decode()
    assert "No node matches these filters." in html and "No nodes yet" not in html


def test_yes_no_filters_read_any_not_unknown(client, root, fleet):
    client.force_login(root)
    html = client.get(LIST).content.decode()
    assert '<option value="unknown" selected>Any</option>' in html and ">Unknown</option>\n  <option value=\"true\"" not in html

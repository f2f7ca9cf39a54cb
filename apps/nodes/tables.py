"""The node list's table."""
import django_tables2 as tables
from django.utils.html import format_html

from apps.core.tables import KitTable, SelectColumn, TimeColumn
from apps.core.templatetags.readable import hardware_brief

from .models import Node


class NodeTable(KitTable):
    locked_columns = ("select", "name")

    select = SelectColumn()
    name = tables.Column(linkify=True)
    address = tables.Column(order_by=("address", "ssh_port"))
    state = tables.Column()
    labels = tables.Column(orderable=False)
    hardware = tables.Column(accessor="facts", orderable=False, verbose_name="Hardware")
    project = tables.Column(accessor="project__name", verbose_name="Project", default="—")
    bmc = tables.Column(accessor="bmc__driver", verbose_name="BMC", default="—")
    power = tables.Column(accessor="bmc__power_state", verbose_name="Power", default="—")
    last_seen = TimeColumn(verbose_name="Last seen", never="never")

    class Meta(KitTable.Meta):
        model = Node
        fields = ()
        sequence = ("select", "name", "address", "state", "labels", "hardware", "project", "bmc", "power",
                    "last_seen")
        empty_text = "No node matches these filters."
        attrs = {**KitTable.Meta.attrs, "id": "nodes"}

    def render_address(self, record):
        return f"{record.address}:{record.ssh_port}"

    def value_address(self, record):
        return f"{record.address}:{record.ssh_port}"

    def render_state(self, record):
        return format_html('<span class="badge node-{}">{}</span>', record.state, record.get_state_display())

    def value_state(self, record):
        return record.state

    def render_labels(self, value):
        return " ".join(f"#{label}" for label in value) if value else "—"

    def value_labels(self, value):
        return " ".join(value or [])

    def render_hardware(self, value):
        return hardware_brief(value)

    def value_hardware(self, value):
        return hardware_brief(value)

"""The key vault's list tables: secrets, one-time tokens, the access log.

Metadata only: no column reads a value, a ciphertext, a checksum or a token string, so neither
the page nor the CSV export can carry one. A secret's description stays out too (search and the
export show names, not what people wrote about them).
"""
import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from apps.core.tables import KitTable, TimeColumn
from apps.core.templatetags.readable import when

from .models import OneTimeToken, Secret, SecretAccess

TOKEN_BADGES = {"active": "text-bg-primary", "consumed": "text-bg-success", "revoked": "text-bg-danger",
                "expired": "text-bg-secondary"}
SHOWN_DESTINATIONS = 3


class SecretTable(KitTable):
    locked_columns = ("name",)

    name = tables.Column(linkify=True)
    kind = tables.Column()
    project = tables.Column(accessor="project__name", verbose_name="Project", default="operators only")
    destinations = tables.Column(verbose_name="May be sent to", orderable=False)
    version = tables.Column()
    expires_at = TimeColumn(verbose_name="Expires")
    updated_at = TimeColumn(verbose_name="Updated")

    class Meta(KitTable.Meta):
        model = Secret
        fields = ()
        sequence = ("name", "kind", "project", "destinations", "version", "expires_at", "updated_at")
        empty_text = "No secret matches these filters."

    def render_kind(self, record):
        return record.get_kind_display()

    def value_kind(self, record):
        return record.kind

    def render_destinations(self, value):
        if not value:
            return format_html('<span class="text-body-secondary">nowhere</span>')
        shown = format_html_join(", ", "<code>{}</code>", ((d,) for d in value[:SHOWN_DESTINATIONS]))
        more = len(value) - SHOWN_DESTINATIONS
        return format_html("{} <span class=\"text-body-secondary\">+{}</span>", shown, more) if more > 0 else shown

    def value_destinations(self, value):
        return " ".join(value or [])

    def render_version(self, value):
        return f"v{value}"

    def render_expires_at(self, record, value):
        if record.is_expired:
            return format_html('{} <span class="badge text-bg-danger">expired</span>', when(value))
        return when(value)



class TokenTable(KitTable):
    """The view annotates each row with `may_revoke` (the revoke rule, in the same query)."""

    locked_columns = ("token_prefix", "actions")

    token_prefix = tables.Column(verbose_name="Token")
    purpose = tables.Column()
    subject = tables.Column()
    created_at = TimeColumn(verbose_name="Issued")
    created_by = tables.Column(accessor="created_by__username", verbose_name="By", default="—")
    expires_at = TimeColumn(verbose_name="Expires")
    bind_ip = tables.Column(verbose_name="Bound to", default="any address")
    status = tables.Column(accessor="pk", verbose_name="State", orderable=False)
    actions = tables.Column(accessor="pk", verbose_name="", orderable=False, exclude_from_export=True)

    class Meta(KitTable.Meta):
        model = OneTimeToken
        fields = ()
        sequence = ("token_prefix", "purpose", "subject", "created_at", "created_by", "expires_at", "bind_ip",
                    "status", "actions")
        empty_text = "No token matches these filters."
        row_attrs = {"data-token-id": lambda record: record.pk}

    def render_token_prefix(self, value):
        return format_html("<code>{}…</code>", value)

    def value_token_prefix(self, value):
        return value

    def render_status(self, record):
        state = record.status
        badge = format_html('<span class="badge {}" data-status="{}">{}</span>', TOKEN_BADGES[state], state, state)
        if record.consumed_at:
            return format_html('{} <span class="small text-body-secondary">{} from {}</span>', badge,
                               when(record.consumed_at), record.consumed_by_ip or "-")
        if record.revoked:
            return format_html('{} <span class="small text-body-secondary">{} by {}</span>', badge,
                               when(record.revoked_at), record.revoked_by.username if record.revoked_by else "—")
        return badge

    def value_status(self, record):
        return record.status

    def render_actions(self, record):
        if record.status != "active" or not getattr(record, "may_revoke", False):
            return ""
        return format_html('<a class="btn btn-outline-danger btn-sm" href="{}">Revoke…</a>',
                           reverse("keyvault:token-revoke", args=[record.pk]))


class AccessTable(KitTable):
    locked_columns = ("timestamp",)

    timestamp = TimeColumn(verbose_name="Time")
    secret_name = tables.Column(verbose_name="Secret")
    kind = tables.Column()
    actor_repr = tables.Column(verbose_name="Who / what")
    purpose = tables.Column()
    version = tables.Column()
    ip = tables.Column(verbose_name="IP", default="")
    request_id = tables.Column(verbose_name="Request", default="")

    class Meta(KitTable.Meta):
        model = SecretAccess
        fields = ()
        sequence = ("timestamp", "secret_name", "kind", "actor_repr", "purpose", "version", "ip", "request_id")
        empty_text = "No access matches these filters."

    def render_secret_name(self, record, value):
        # The row names a secret the user may see (restrict() on the access log follows the secret).
        if record.secret_id:
            return format_html('<a href="{}">{}</a>', reverse("keyvault:detail", args=[record.secret_id]), value)
        return format_html('{} <span class="text-body-secondary">(deleted)</span>', value)

    def render_kind(self, record):
        return record.get_kind_display()

    def value_kind(self, record):
        return record.kind

    def render_version(self, value):
        return f"v{value}"

    def render_request_id(self, value):
        return format_html('<span class="small text-body-secondary" title="{}">{}</span>', value, value[:12])

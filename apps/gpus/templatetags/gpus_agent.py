"""{% agent_panel node as agent %}: what the node page's agent section shows, for this user."""
from urllib.parse import urlencode

from django import template
from django.urls import reverse

from apps.gpus import agent_auth
from apps.rbac.permissions import can, restrict

register = template.Library()


@register.simple_tag(takes_context=True)
def agent_panel(context, node):
    request = context["request"]
    user = request.user
    credentials = list(agent_auth.visible_credentials(user).filter(node=node).order_by("-created_at")[:20])
    revocable = set(restrict(type(credentials[0])._default_manager.filter(pk__in=[c.pk for c in credentials]),
                             user, "change").values_list("pk", flat=True)) if credentials else set()
    may_change_node = can(user, node, "change")
    portal = request.build_absolute_uri("/").rstrip("/")
    return {
        "credentials": [(c, c.pk in revocable and may_change_node) for c in credentials],
        "may_enroll": user.has_perm("gpus.add_nodecredential") and may_change_node,
        "token_url": reverse("keyvault:token-issue") + "?" + urlencode(
            {"purpose": agent_auth.PURPOSE, "subject": node.name}),
        "install_command": agent_auth.install_command(portal),
        "run_command": agent_auth.run_command(portal),
        "token_file": agent_auth.TOKEN_FILE,
    }

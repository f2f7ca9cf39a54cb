from django import template
from django.urls import reverse
from django.utils.html import format_html

from ..discovery import NOT_IN_SLURM, state_word
from ..tables import NODE_STATE_TONES, state_counts, status_badge

register = template.Library()


@register.simple_tag
def cluster_status_badge(cluster):
    return status_badge(cluster)


@register.simple_tag
def cluster_state_counts(states):
    return state_counts(states or {})


def _state_word(member) -> str:
    if member.state == NOT_IN_SLURM:
        return "not in slurm"
    return state_word(member.base_state, set(member.flags))


@register.simple_tag
def cluster_node_tile(member):
    """One node of the grid: coloured by state, with the state in words and its GPUs (colour is
    never the only cue)."""
    word = _state_word(member)
    tone = NODE_STATE_TONES.get(word, "secondary")
    gpus = format_html(" · {}/{} GPU", member.alloc_gpus, member.gpu_count) if member.gpu_count else ""
    name = (format_html('<a class="stretched-link text-reset" href="{}">{}</a>',
                        reverse("nodes:detail", args=[member.node_id]), member.slurm_name)
            if member.node_id else member.slurm_name)
    reason = format_html('<div class="small text-truncate" style="max-width:11rem">{}</div>', member.reason) \
        if member.reason else ""
    health = getattr(member, "gpu_health", None)
    if health:
        worst, count = health
        reason = format_html('<div class="small"><span class="badge text-bg-{}">{} GPU {}</span></div>{}',
                             "danger" if worst == "failed" else "warning", count,
                             worst if count == 1 else f"not ok (worst: {worst})", reason)
    return format_html('<li class="card border-{0} position-relative p-2 cluster-node" data-state="{1}" '
                       'title="{2}" style="min-width:9rem"><div class="fw-semibold">{3}</div>'
                       '<div class="small"><span class="badge text-bg-{0}">{4}</span>{5}</div>{6}</li>',
                       tone, word, member.state, name, word.replace("_", " "), gpus, reason)

"""Where a form goes back to: the `next` field only when it stays on this site.

`redirect(request.POST["next"])` sent a user who submitted a crafted form to any site
(`next=https://evil.example/login`): an open redirect. Every page that honours `next` goes
through here; anything but a path on this host falls back to the page's own default.
"""
from __future__ import annotations

from django.shortcuts import redirect, resolve_url
from django.utils.http import url_has_allowed_host_and_scheme


def safe_next_url(request, default: str, *args, **kwargs) -> str:
    """`next` from the form or query string if it is a URL of this site, else `default`
    (a URL name, resolved with args/kwargs, or a path)."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(candidate, allowed_hosts={request.get_host()},
                                                     require_https=request.is_secure()):
        return candidate
    return resolve_url(default, *args, **kwargs)


def redirect_next(request, default: str, *args, **kwargs):
    return redirect(safe_next_url(request, default, *args, **kwargs))

"""Answers that carry a secret value, a token or a credential must not land in any cache."""
from django.utils.cache import add_never_cache_headers


def never_cached(response):
    """`response` with Django's never-cache headers (no-store among them); returns it for chaining."""
    add_never_cache_headers(response)
    return response

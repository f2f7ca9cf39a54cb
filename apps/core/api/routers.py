"""The router of every app's API.

DRF's DefaultRouter adds a `.json` twin of every route; extra actions (`@action`) do not take
the `format` argument those twins pass, so `POST /api/v1/nodes/import.json` ended in a
TypeError (500). The API speaks JSON only (content negotiation by the Accept header), so the
twins are not needed.
"""
from rest_framework.routers import DefaultRouter


class ApiRouter(DefaultRouter):
    include_format_suffixes = False

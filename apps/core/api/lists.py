"""Lean lists: the shared base of every API viewset that lists rows.

A list carries only what a list shows; details come from the detail view or `?expand=`. What a
serializer field needs from related tables is declared next to the serializer (`eager`), and the
view loads exactly that for the fields it will render — so a list neither prefetches host keys it
does not show nor joins a credential it does not name, and `?fields=name` reads no relation.

Query parameters (list and detail, GET only; writes always answer with the full serializer):
  ?fields=a,b       only these fields (unknown or write-only names: 400 naming them)
  ?brief=1          id, url, display (str) and name where the model has one; no joins
  ?expand=rel,...   add the detail representation of a relation the list leaves out
  ?cursor=          keyset pages (apps/core/api/pagination.py); ?limit= at most API_MAX_PAGE_SIZE
Details answer with an ETag (a hash of the body as this user sees it) and 304 to If-None-Match.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

from django.http import HttpResponseNotModified
from django.urls import NoReverseMatch, reverse
from django.utils.http import parse_etags
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from .pagination import ListPagination

SHAPED_ACTIONS = ("list", "retrieve")
TRUE, FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")
MAX_NAMES = 64  # of a fields= or expand= list


@dataclass(frozen=True)
class Eager:
    """How one serializer field's related rows are loaded: a join, or one query for all rows."""

    path: str
    prefetch: bool = False


def select(path: str) -> Eager:
    return Eager(path)


def prefetch(path: str) -> Eager:
    return Eager(path, prefetch=True)


@dataclass(frozen=True)
class Expansion:
    """A relation `?expand=` adds to a list: the serializer of its detail representation."""

    serializer: type[serializers.Field]  # a serializer, or a plain field for a heavy column
    loads: tuple[Eager, ...] = ()
    many: bool = False
    source: str | None = None

    def field(self):
        kwargs = {"read_only": True, **({"source": self.source} if self.source else {})}
        return self.serializer(many=True, **kwargs) if self.many else self.serializer(**kwargs)


def eager_of(serializer_class, names) -> list[Eager]:
    """The loads the serializer declares (`eager = {"field": select(...)}`) for these fields."""
    declared = getattr(serializer_class, "eager", {})
    loads = []
    for name in names:
        value = declared.get(name, ())
        loads += [value] if isinstance(value, Eager) else list(value)
    return loads


def apply_eager(queryset, loads):
    joins = [load.path for load in loads if not load.prefetch]
    queries = [load.path for load in loads if load.prefetch]
    if joins:
        queryset = queryset.select_related(*joins)
    if queries:
        queryset = queryset.prefetch_related(*queries)
    return queryset


def _names(request, param: str) -> list[str] | None:
    raw = request.query_params.get(param)
    if raw is None:
        return None
    names = [name.strip() for name in raw.split(",")]
    if len(names) > MAX_NAMES:
        raise ValidationError({param: [f"At most {MAX_NAMES} names."]})
    return names


def _flag(request, param: str) -> bool:
    raw = request.query_params.get(param, "").strip().lower()
    if raw in TRUE:
        return True
    if raw in FALSE:
        return False
    raise ValidationError({param: [f"Must be 1/true or 0/false, got {raw[:20]!r}."]})


def _unknown(param: str, name: str, choices) -> ValidationError:
    return ValidationError({param: [f"Unknown field {name[:60]!r}. Choose from: {', '.join(sorted(choices))}."]})


@dataclass
class Shape:
    """What one GET asked for: the fields kept (None: all), the relations expanded, brief or not."""

    brief: bool = False
    fields: list[str] | None = None
    expand: tuple[str, ...] = ()


@extend_schema_field(OpenApiTypes.STR)
class DetailUrlField(serializers.Field):
    """The API path of the row's detail (relative, like every link the API hands out)."""

    def __init__(self, view_name: str, **kwargs):
        self.view_name = view_name
        super().__init__(source="pk", read_only=True, **kwargs)

    def to_representation(self, value) -> str:
        return detail_path(self, self.view_name, value)


_PLACEHOLDER = 918273645546372819


def detail_path(holder, view_name: str, pk) -> str:
    """reverse() costs about 25 us; a list of 1,000 rows reverses once and formats the rest
    (the template is kept on the field or serializer instance, which lives for one request)."""
    template = getattr(holder, "_path_template", None)
    if template is None:
        try:
            template = reverse(view_name, args=[_PLACEHOLDER]).replace(str(_PLACEHOLDER), "{}")
        except NoReverseMatch:  # a route whose key pattern refuses digits: reverse every row
            template = ""
        holder._path_template = template
    return template.format(pk) if template else reverse(view_name, args=[pk])


class BriefSerializer(serializers.Serializer):
    id = serializers.ReadOnlyField(source="pk")
    url = serializers.SerializerMethodField()
    display = serializers.SerializerMethodField()

    def get_url(self, obj) -> str | None:
        view = self.context.get("view")
        try:
            return detail_path(self, f"api:{view.basename}-detail", obj.pk)
        except (AttributeError, NoReverseMatch):
            return None

    def get_display(self, obj) -> str:
        return str(obj)


@lru_cache(maxsize=None)
def brief_serializer(model) -> type[serializers.Serializer]:
    """id, url, display, and `name` where the model has such a field."""
    attrs = {}
    if any(field.name == "name" for field in model._meta.concrete_fields):
        attrs["name"] = serializers.CharField(read_only=True)
    return type(f"{model.__name__}BriefSerializer", (BriefSerializer,), attrs)


class LeanSchema(AutoSchema):
    """Adds fields / brief / expand to the OpenAPI description of lists and details."""

    def get_override_parameters(self):
        params = list(super().get_override_parameters())
        view = self.view
        if self.method != "GET" or getattr(view, "action", None) not in SHAPED_ACTIONS:
            return params
        expandable = sorted(getattr(view, "expandable", {}))
        params += [
            OpenApiParameter("fields", str, description="Comma-separated field names to return (unknown: 400)."),
            OpenApiParameter("brief", bool, description="Only id, url, display (and name): no related rows."),
        ]
        if expandable:
            params.append(OpenApiParameter(
                "expand", str, description=f"Comma-separated relations to include: {', '.join(expandable)}."))
        return params


class LeanViewSetMixin:
    """Base of API viewsets that list rows. Set on the viewset:

    list_serializer_class  what a list row shows (default: serializer_class)
    expandable             {"relation": Expansion(DetailSerializer, (prefetch("path"),), many=True)}
    cursor_ordering        a unique ordering for keyset pages, e.g. ("name",) or ("-id",)
    and on serializers     eager = {"field": select("path") | prefetch("path") | (several,)}
                           deferred = ("heavy_column",)  columns a row serializer leaves out
    """

    list_serializer_class = None
    expandable: dict[str, Expansion] = {}
    cursor_ordering: tuple[str, ...] = ("-pk",)
    pagination_class = ListPagination
    schema = LeanSchema()

    # --- what was asked ---------------------------------------------------------------------
    def shaped(self) -> bool:
        return getattr(self, "action", None) in SHAPED_ACTIONS and self.request.method in ("GET", "HEAD")

    @property
    def shape(self) -> Shape:
        if not hasattr(self, "_shape"):
            self._shape = self._read_shape() if self.shaped() else Shape()
        return self._shape

    def _read_shape(self) -> Shape:
        request = self.request
        shape = Shape(brief=_flag(request, "brief"))
        if shape.brief:
            return shape
        expand = _names(request, "expand") or []
        for name in expand:
            if name not in self.expandable:
                raise _unknown("expand", name, self.expandable)
        shape.expand = tuple(dict.fromkeys(expand))
        fields = _names(request, "fields")
        if fields is not None:
            readable = self._readable_fields()
            for name in fields:
                if name not in readable and name not in self.expandable:
                    raise _unknown("fields", name, readable | set(self.expandable))
            shape.fields = list(dict.fromkeys(fields))
            # A relation named in fields= but left out of this serializer is expanded.
            extra = tuple(name for name in shape.fields if name not in readable)
            shape.expand = tuple(dict.fromkeys(shape.expand + extra))
        return shape

    def _readable_fields(self) -> set[str]:
        serializer = self._row_serializer_class()(context=self.get_serializer_context())
        return {name for name, field in serializer.fields.items() if not field.write_only}

    # --- serializers --------------------------------------------------------------------------
    def get_serializer_class(self):
        if self.shaped() and self.shape.brief:
            model = self.queryset.model if self.queryset is not None else self.get_queryset().model
            return brief_serializer(model)
        return self._row_serializer_class()

    def _row_serializer_class(self):
        if getattr(self, "action", None) == "list" and self.list_serializer_class is not None:
            return self.list_serializer_class
        return super().get_serializer_class()

    def get_serializer(self, *args, **kwargs):
        serializer = super().get_serializer(*args, **kwargs)
        shape = self.shape
        if shape.expand or shape.fields is not None:
            row = getattr(serializer, "child", serializer)
            for name in shape.expand:
                row.fields[name] = self.expandable[name].field()
            if shape.fields is not None:
                for name in list(row.fields):
                    if name not in shape.fields and name not in shape.expand:
                        row.fields.pop(name)
        return serializer

    # --- queries ------------------------------------------------------------------------------
    def filter_queryset(self, queryset):
        """Filters, then the related rows the rendered fields need (and nothing else), without the
        heavy columns the row serializer leaves out (`deferred`, unless expanded)."""
        queryset = super().filter_queryset(queryset)
        if self.shaped():  # reads only: an instance a write saves must carry every column
            deferred = [name for name in getattr(self._row_serializer_class(), "deferred", ())
                        if name not in self.shape.expand]
            if deferred:
                queryset = queryset.defer(*deferred)
        return apply_eager(queryset, self.eager_loads())

    def eager_loads(self) -> list[Eager]:
        shape = self.shape
        if shape.brief:
            return []
        serializer_class = self.get_serializer_class()
        names = shape.fields if shape.fields is not None else list(getattr(serializer_class, "eager", {}))
        loads = eager_of(serializer_class, names)
        for name in shape.expand:
            loads += list(self.expandable[name].loads)
        return loads

    # --- conditional GET ----------------------------------------------------------------------
    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if getattr(self, "action", None) == "retrieve" and request.method in ("GET", "HEAD") \
                and response.status_code == 200:
            return conditional(request, response)
        return response


def conditional(request, response):
    """ETag from the rendered body (so it differs per representation and per what the user may
    see); 304 without a body when the client already holds it. Permission checks ran first."""
    response.render()
    etag = '"%s"' % hashlib.blake2b(response.content, digest_size=16).hexdigest()
    response["ETag"] = etag
    if not response.has_header("Cache-Control"):
        response["Cache-Control"] = "private, no-cache"  # per user; revalidate with If-None-Match
    wanted = parse_etags(request.META.get("HTTP_IF_NONE_MATCH", ""))
    if etag in wanted or "*" in wanted:
        not_modified = HttpResponseNotModified()
        for header in ("ETag", "Cache-Control", "Vary"):
            if response.has_header(header):
                not_modified[header] = response[header]
        return not_modified
    return response

"""GET /api/v1/search/?q=: the global search as JSON, the same hits the search page shows."""
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from apps.core import search

class SearchHitSerializer(serializers.Serializer):
    text = serializers.CharField()
    url = serializers.CharField()


class SearchGroupSerializer(serializers.Serializer):
    label = serializers.CharField()
    hits = SearchHitSerializer(many=True)
    more_url = serializers.CharField(allow_null=True)


class SearchResultSerializer(serializers.Serializer):
    query = serializers.CharField(allow_blank=True)
    groups = SearchGroupSerializer(many=True)


@extend_schema(
    parameters=[OpenApiParameter("q", OpenApiTypes.STR, description="Text to find (at most 100 characters).")],
    responses={200: SearchResultSerializer})
@api_view(["GET"])
def search_view(request):
    """Nodes, projects, secrets (names only), jobs and audit entries the caller may see: up to 5 of
    each kind, with a link to the filtered list where there are more."""
    text = search.clean(request.query_params.get("q"))
    if len(text) > search.MAX_QUERY_LENGTH:
        raise ValidationError({"q": [f"At most {search.MAX_QUERY_LENGTH} characters."]})
    groups = search.search_groups(request.user, text)
    return Response(SearchResultSerializer({"query": text, "groups": groups}).data)

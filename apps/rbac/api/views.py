from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action, api_view
from rest_framework.response import Response

from apps.core.api.lists import Expansion, LeanViewSetMixin, prefetch
from apps.rbac import services
from apps.rbac.api.mixins import RestrictedQuerysetMixin
from apps.rbac.identity import describe_user, role_catalogue
from apps.rbac.models import Project

from .serializers import (GrantSerializer, GrantWriteSerializer, MembershipSerializer, MemberWriteSerializer,
                          ProjectListSerializer, ProjectSerializer, ProjectUpdateSerializer, UserSerializer)


class GrantsMixin:
    """`grants/` on a project or a user: list (who may see the grantee), add and revoke (checked
    and audited by apps.rbac.services: manage the object and the grantee to grant)."""

    rbac_action = None  # set per action by DRF from @action(rbac_action=...)

    @extend_schema(responses={200: GrantSerializer(many=True)})
    @action(detail=True, methods=["get"], url_path="grants", rbac_action="view")
    def grants(self, request, pk=None):
        """The object grants held by this project (its members) or user."""
        grants = services.list_grants(request.user, self.get_object())
        return Response(GrantSerializer(grants, many=True).data)

    @extend_schema(request=GrantWriteSerializer, responses={201: GrantSerializer})
    @grants.mapping.post
    def add_grant(self, request, pk=None):
        """Grant an action (view, use, manage) on one object; needs manage on the object and on the
        project (or user administration). Audited."""
        grantee = self.get_object()
        data = GrantWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        grant = services.grant_by_reference(request.user, grantee, data.validated_data["object_type"],
                                            data.validated_data["object_id"], data.validated_data["permission"])
        return Response(GrantSerializer(grant).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={204: None})
    @action(detail=True, methods=["delete"], url_path=r"grants/(?P<grant_id>[0-9]+)", rbac_action="view")
    def revoke_grant(self, request, pk=None, grant_id=None):
        """Revoke one grant; needs manage on the object or on the project. Audited."""
        services.revoke_grant(request.user, self.get_object(), grant_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class UserViewSet(GrantsMixin, LeanViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """Users: everyone with auth.view_user (admin) sees all; others see themselves.
    Accounts are managed in the admin."""

    serializer_class = UserSerializer
    cursor_ordering = ("username",)
    search_fields = ["username", "email", "first_name", "last_name"]
    filterset_fields = ["is_active", "is_staff"]
    ordering_fields = ["username", "date_joined", "last_login"]

    def get_queryset(self):
        qs = get_user_model().objects.order_by("username")  # groups: prefetched for `roles` (eager)
        user = self.request.user
        return qs if user.has_perm("auth.view_user") else qs.filter(pk=user.pk)


class ProjectViewSet(GrantsMixin, LeanViewSetMixin, RestrictedQuerysetMixin, viewsets.ModelViewSet):
    """Projects (teams): members with a role, quotas, object grants. Owners manage their own."""

    queryset = Project.objects.all()  # members: prefetched where the serializer shows them (eager)
    serializer_class = ProjectSerializer
    list_serializer_class = ProjectListSerializer
    expandable = {"members": Expansion(MembershipSerializer, (prefetch("memberships__user"),), many=True,
                                       source="memberships")}
    cursor_ordering = ("name",)
    search_fields = ["name", "description"]
    ordering_fields = ["name", "created_at"]

    def create(self, request):
        data = ProjectSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        project = services.create_project(request.user, owner=request.user, **data.validated_data)
        return Response(ProjectSerializer(project).data, status=status.HTTP_201_CREATED)

    def update(self, request, pk=None, partial=False):
        project = self.get_object()
        data = ProjectUpdateSerializer(project, data=request.data, partial=partial)
        data.is_valid(raise_exception=True)
        services.update_project(request.user, project, **data.validated_data)
        fresh = self.get_queryset().prefetch_related("memberships__user").get(pk=project.pk)
        return Response(ProjectSerializer(fresh).data)

    def partial_update(self, request, pk=None):
        return self.update(request, pk, partial=True)

    def destroy(self, request, pk=None):
        services.delete_project(request.user, self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=MemberWriteSerializer, responses={201: MembershipSerializer})
    @action(detail=True, methods=["post"], url_path="members", rbac_action="view")
    def add_member(self, request, pk=None):
        data = MemberWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.add_member(request.user, self.get_object(), **data.validated_data)
        return Response(MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={204: None})
    @action(detail=True, methods=["delete"], url_path=r"members/(?P<username>[^/]+)", rbac_action="view")
    def remove_member(self, request, pk=None, username=None):
        services.remove_member(request.user, self.get_object(), username)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(responses={200: dict})
@api_view(["GET"])
def roles_view(request):
    """The role templates and the permissions each grants (read-only; defined in code)."""
    return Response(role_catalogue())


@extend_schema(responses={200: dict})
@api_view(["GET"])
def me_view(request):
    """The current user: roles, projects and effective permissions."""
    return Response(describe_user(request.user))

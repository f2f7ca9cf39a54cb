from django.contrib.auth import get_user_model
from rest_framework import serializers

from apps.core.api.lists import DetailUrlField, prefetch
from apps.rbac.models import Membership, Project, ProjectRole
from apps.rbac.roles import ROLE_TEMPLATES
from apps.rbac.services import GRANT_ACTIONS


class MembershipSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = Membership
        fields = ["username", "role", "from_ldap", "created_at"]


class ProjectSerializer(serializers.ModelSerializer):
    members = MembershipSerializer(source="memberships", many=True, read_only=True)
    eager = {"members": prefetch("memberships__user")}

    class Meta:
        model = Project
        fields = ["id", "name", "description", "gpu_quota", "gpu_hours_quota", "members", "created_at"]
        read_only_fields = ["id", "members", "created_at"]


class ProjectListSerializer(serializers.ModelSerializer):
    """A row of the project list; members are on the detail or `?expand=members`."""

    url = DetailUrlField("api:project-detail")

    class Meta:
        model = Project
        fields = ["id", "url", "name", "description", "gpu_quota", "gpu_hours_quota", "created_at"]
        read_only_fields = fields


class ProjectUpdateSerializer(serializers.ModelSerializer):
    class Meta:
        model = Project
        fields = ["description", "gpu_quota", "gpu_hours_quota"]


class MemberWriteSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(choices=ProjectRole.choices, default=ProjectRole.MEMBER)


class UserSerializer(serializers.ModelSerializer):
    roles = serializers.SerializerMethodField()
    eager = {"roles": prefetch("groups")}

    class Meta:
        model = get_user_model()
        fields = ["id", "username", "first_name", "last_name", "email", "is_active", "is_staff", "is_superuser",
                  "roles", "last_login", "date_joined"]

    def get_roles(self, user) -> list[str]:
        return sorted(g.name for g in user.groups.all() if g.name in ROLE_TEMPLATES)


class GrantSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    object_type = serializers.CharField(read_only=True, help_text="app_label.model, e.g. nodes.node")
    object_id = serializers.CharField(read_only=True)
    object_repr = serializers.CharField(read_only=True)
    permission = serializers.CharField(read_only=True, help_text="view, use or manage")


class GrantWriteSerializer(serializers.Serializer):
    object_type = serializers.CharField(max_length=100, help_text="app_label.model, e.g. nodes.node")
    object_id = serializers.CharField(max_length=64)
    permission = serializers.ChoiceField(choices=GRANT_ACTIONS)

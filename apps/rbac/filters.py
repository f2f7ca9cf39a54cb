"""Filters of the project list page."""
import django_filters
from django.db.models import Q

from apps.core.filtering import FilterSet

from .models import Project, ProjectRole


class ProjectFilter(FilterSet):
    q = django_filters.CharFilter(method="search", label="Search", help_text="name or description")
    member = django_filters.CharFilter(field_name="memberships__user__username", label="Member",
                                       distinct=True)
    role = django_filters.ChoiceFilter(field_name="memberships__role", choices=ProjectRole.choices,
                                       label="Member's role", method="member_role")
    has_quota = django_filters.BooleanFilter(field_name="gpu_quota", lookup_expr="isnull", exclude=True,
                                             label="Has a GPU quota")

    class Meta:
        model = Project
        fields = ["q", "member", "role", "has_quota"]

    def search(self, queryset, name, value):
        return queryset.filter(Q(name__icontains=value) | Q(description__icontains=value))

    def member_role(self, queryset, name, value):
        # With a member named: their role; else projects that have anyone with this role.
        username = self.form.cleaned_data.get("member")
        condition = Q(memberships__role=value)
        if username:
            condition &= Q(memberships__user__username=username)
        return queryset.filter(condition).distinct()

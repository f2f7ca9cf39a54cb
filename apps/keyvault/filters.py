import django_filters
from django import forms
from django.db.models import Q
from django.utils import timezone

from apps.core.filtering import FilterSet
from apps.rbac.models import Project

from .models import AccessKind, OneTimeToken, RedeemOutcome, Secret, SecretAccess, SecretKind, TokenRedemption


class SecretFilter(FilterSet):
    kind = django_filters.MultipleChoiceFilter(choices=SecretKind.choices)
    project = django_filters.CharFilter(field_name="project__name")
    expired = django_filters.BooleanFilter(method="filter_expired")

    class Meta:
        model = Secret
        fields = ["kind", "project", "expired"]

    def filter_expired(self, queryset, name, value):
        past = Q(expires_at__isnull=False, expires_at__lte=timezone.now())
        return queryset.filter(past) if value else queryset.exclude(past)


class SecretAccessFilter(FilterSet):
    secret = django_filters.CharFilter(field_name="secret_name")
    kind = django_filters.MultipleChoiceFilter(choices=AccessKind.choices)
    actor = django_filters.CharFilter(field_name="actor_repr")
    since = django_filters.IsoDateTimeFilter(field_name="timestamp", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="timestamp", lookup_expr="lt")

    class Meta:
        model = SecretAccess
        fields = ["secret", "kind", "actor", "since", "until"]


class OneTimeTokenFilter(FilterSet):
    purpose = django_filters.CharFilter(field_name="purpose")
    subject = django_filters.CharFilter(field_name="subject")
    revoked = django_filters.BooleanFilter(field_name="revoked")
    consumed = django_filters.BooleanFilter(field_name="consumed_at", lookup_expr="isnull", exclude=True)

    class Meta:
        model = OneTimeToken
        fields = ["purpose", "subject", "revoked", "consumed"]


class TokenRedemptionFilter(FilterSet):
    outcome = django_filters.MultipleChoiceFilter(choices=RedeemOutcome.choices)
    token = django_filters.UUIDFilter(field_name="token_id")
    since = django_filters.IsoDateTimeFilter(field_name="timestamp", lookup_expr="gte")

    class Meta:
        model = TokenRedemption
        fields = ["outcome", "token", "since"]


# --- the list pages' filter panels -----------------------------------------------------------------
class SecretPageFilter(SecretFilter):
    """The API's SecretFilter plus a name search; the project list offers the projects of the
    secrets the user sees (pass `request`)."""

    name = django_filters.CharFilter(label="Name contains", lookup_expr="icontains")
    project = django_filters.ChoiceFilter(field_name="project__name", label="Project", choices=())
    expired = django_filters.BooleanFilter(method="filter_expired", label="Expired")

    class Meta(SecretFilter.Meta):
        fields = ["name", "kind", "project", "expired"]

    def __init__(self, data=None, queryset=None, *, request=None, **kwargs):
        super().__init__(data, queryset, request=request, **kwargs)
        names = Project.objects.filter(pk__in=queryset.values("project")).order_by("name") \
            .values_list("name", flat=True) if queryset is not None else []
        self.filters["project"].extra["choices"] = [(n, n) for n in names]


TOKEN_STATES = (("active", "Active"), ("consumed", "Consumed"), ("revoked", "Revoked"), ("expired", "Expired"))


class TokenPageFilter(FilterSet):
    purpose = django_filters.ChoiceFilter(field_name="purpose", choices=())
    subject = django_filters.CharFilter(field_name="subject", lookup_expr="icontains", label="Subject contains")
    status = django_filters.ChoiceFilter(choices=TOKEN_STATES, method="filter_status", label="State")

    class Meta:
        model = OneTimeToken
        fields = ["purpose", "subject", "status"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from .purposes import all_purposes

        self.filters["purpose"].extra["choices"] = [(p.name, p.label) for p in all_purposes()]

    def filter_status(self, queryset, name, value):
        now = timezone.now()
        live = Q(revoked=False, consumed_at__isnull=True)
        return queryset.filter({
            "active": live & Q(expires_at__gt=now),
            "consumed": Q(revoked=False, consumed_at__isnull=False),
            "revoked": Q(revoked=True),
            "expired": live & Q(expires_at__lte=now),
        }[value])


class AccessPageFilter(SecretAccessFilter):
    secret = django_filters.CharFilter(field_name="secret_name", lookup_expr="icontains", label="Secret name contains")
    actor = django_filters.CharFilter(field_name="actor_repr", lookup_expr="icontains", label="Who / what")
    since = django_filters.IsoDateTimeFilter(field_name="timestamp", lookup_expr="gte", label="Since",
                                             widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    until = django_filters.IsoDateTimeFilter(field_name="timestamp", lookup_expr="lt", label="Until",
                                             widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))

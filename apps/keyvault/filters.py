import django_filters

from apps.core.filtering import FilterSet

from .models import AccessKind, OneTimeToken, RedeemOutcome, Secret, SecretAccess, SecretKind, TokenRedemption


class SecretFilter(FilterSet):
    kind = django_filters.MultipleChoiceFilter(choices=SecretKind.choices)
    project = django_filters.CharFilter(field_name="project__name")
    expired = django_filters.BooleanFilter(method="filter_expired")

    class Meta:
        model = Secret
        fields = ["kind", "project", "expired"]

    def filter_expired(self, queryset, name, value):
        from django.db.models import Q
        from django.utils import timezone

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

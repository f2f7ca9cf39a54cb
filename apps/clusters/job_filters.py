import django_filters
from django.db.models import Q

from apps.core.filtering import FilterSet

from .models import Cluster, JobTemplate, SlurmJob, SlurmJobState


def _clusters(request):
    from .job_actions import visible_clusters_for_jobs

    if request is None:
        return Cluster.objects.none()
    return visible_clusters_for_jobs(request.user).order_by("name")


class SlurmJobFilter(FilterSet):
    cluster = django_filters.ModelChoiceFilter(queryset=_clusters)
    state = django_filters.MultipleChoiceFilter(choices=SlurmJobState.choices)
    user = django_filters.CharFilter(label="Slurm user", max_length=64)
    account = django_filters.CharFilter(max_length=64)
    partition = django_filters.CharFilter(max_length=63)
    q = django_filters.CharFilter(method="filter_q", label="Search", max_length=100)

    class Meta:
        model = SlurmJob
        fields = ["cluster", "state", "user", "account", "partition", "q"]

    def filter_q(self, queryset, name, value):
        return queryset.filter(Q(name__icontains=value) | Q(job_id=value))


class JobTemplateFilter(FilterSet):
    q = django_filters.CharFilter(method="filter_q", label="Search", max_length=100)

    class Meta:
        model = JobTemplate
        fields = ["q"]

    def filter_q(self, queryset, name, value):
        return queryset.filter(Q(name__icontains=value) | Q(description__icontains=value))

from django.contrib import admin, messages
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.html import format_html

from apps.core.admin_mixins import ReadOnlyModelAdmin
from apps.core.errors import ServiceError
from apps.rbac.admin_base import RestrictedModelAdmin, RestrictedTabularInline

from . import services
from .models import Job, JobEvent


class JobEventInline(ReadOnlyModelAdmin, RestrictedTabularInline):
    model = JobEvent
    fields = ["seq", "timestamp", "kind", "host", "message"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    max_num = 0
    ordering = ["seq"]

    def get_queryset(self, request):
        # The admin shows the first events; the job page streams the whole log.
        return super().get_queryset(request).order_by("seq")


@admin.register(Job)
class JobAdmin(RestrictedModelAdmin):
    list_display = ["id", "kind", "status", "progress", "current_step", "target_repr", "requester", "created_at", "live"]
    list_filter = ["status", "kind", "queue", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["kind", "target_repr", "current_step", "error", "requester__username", "celery_task_id"]
    list_select_related = ["requester"]
    readonly_fields = [f.name for f in Job._meta.fields if f.name not in ("target_type", "target_id")] + ["live"]
    exclude = ["target_type", "target_id"]
    actions = ["cancel_jobs", "retry_jobs"]
    change_list_template = "admin/jobs/job/change_list.html"
    date_hierarchy = "created_at"

    def get_queryset(self, request):
        return services.visible_jobs(request.user)

    def has_add_permission(self, request):
        return False  # jobs are started through services (button above the list, API, pages)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # a job is the record of an operation; cancel it, never delete it

    @admin.display(description="live page")
    def live(self, obj):
        return format_html('<a href="{}">open</a>', reverse("jobs:detail", args=[obj.pk]))

    def get_urls(self):
        extra = [path("start/<str:kind>/", self.admin_site.admin_view(self.start_view), name="jobs_job_start")]
        return extra + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "startable": services.startable_kinds(request.user)}
        return super().changelist_view(request, extra_context)

    def start_view(self, request, kind):
        if request.method != "POST":
            return redirect("admin:jobs_job_changelist")
        try:
            job = services.start_job(request.user, kind)
        except ServiceError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return redirect("admin:jobs_job_changelist")
        return redirect("jobs:detail", pk=job.pk)

    @admin.action(description="Cancel selected jobs")
    def cancel_jobs(self, request, queryset):
        self._each(request, queryset, services.cancel_job, "Cancel requested for")

    @admin.action(description="Retry selected jobs")
    def retry_jobs(self, request, queryset):
        self._each(request, queryset, services.retry_job, "Retried")

    def _each(self, request, queryset, func, verb):
        done, errors = [], []
        for job in queryset:
            try:
                func(request.user, job)
                done.append(str(job.pk))
            except ServiceError as exc:
                errors.append(f"job {job.pk}: {exc.message}")
        if done:
            self.message_user(request, f"{verb} job(s) {', '.join(done)}.", messages.SUCCESS)
        for error in errors:
            self.message_user(request, error, messages.ERROR)

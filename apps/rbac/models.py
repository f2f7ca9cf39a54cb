"""Projects (teams) and their members. Each project has a Django group that carries its object
permissions (django-guardian), so granting a project access to an object is one assign_perm."""
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.validators import RegexValidator
from django.db import models
from django.urls import reverse

slug_validator = RegexValidator(r"^[a-z0-9][a-z0-9-]{0,62}$",
                                "Use 1-63 lowercase letters, digits and '-', starting with a letter or digit.")


class Project(models.Model):
    name = models.CharField(max_length=63, unique=True, validators=[slug_validator])
    description = models.TextField(blank=True)
    group = models.OneToOneField(Group, on_delete=models.PROTECT, related_name="project", editable=False)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="projects")
    # Quotas are enforced by the allocations app; null means no limit.
    gpu_quota = models.PositiveIntegerField(null=True, blank=True, help_text="GPUs allocated at once")
    gpu_hours_quota = models.PositiveIntegerField(null=True, blank=True, help_text="GPU hours per month")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        permissions = [
            ("manage_project", "Can manage members and grants of a project"),
            # Held by the admin and sre roles: act on every object, not only own/project ones.
            ("unrestricted", "Can act on all objects of permitted models"),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("rbac:project", args=[self.pk])

    # Objects owned by a project are visible to its members (see apps.rbac.permissions).
    rbac_project_field = "pk"
    # "owner: everything": owners manage their own project without the global model permissions.
    rbac_project_owners_have_every_action = True


class ProjectRole(models.TextChoices):
    OWNER = "owner", "Owner"
    MEMBER = "member", "Member"
    VIEWER = "viewer", "Viewer"


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=8, choices=ProjectRole.choices, default=ProjectRole.MEMBER)
    # Memberships that came from LDAP group mapping are refreshed at each login.
    from_ldap = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "user"]
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="membership_unique")]

    def __str__(self):
        return f"{self.user} in {self.project} ({self.role})"

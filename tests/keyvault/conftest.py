"""Key vault fixtures: projects with members, secrets, fixed encryption keys."""
import ipaddress

import pytest
from cryptography.fernet import Fernet
from django.contrib.auth.models import Group

from apps.keyvault import services
from apps.rbac.models import Membership, Project

VALUE = "s3cr3t-Value-\u00e9-\n-line2-Zq9"  # distinctive, multi-line, non-ASCII


@pytest.fixture
def keys(settings):
    """Two fresh Fernet keys; the first is active."""
    a, b = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.ENCRYPTION_KEYS = [a]
    return a, b


@pytest.fixture
def make_project():
    def make(name, *members):
        """make("team-a", (alice, "owner"), (bob, "member"))"""
        project = Project.objects.create(name=name, group=Group.objects.create(name=f"project:{name}"))
        for user, role in members:
            Membership.objects.create(project=project, user=user, role=role)
        return project
    return make



@pytest.fixture
def make_secret(root):
    def make(name="db-password", value=VALUE, **kwargs):
        return services.create_secret(root, name=name, value=value, **kwargs)
    return make


DESTINATION = ("10.1.2.3", [ipaddress.ip_address("10.1.2.3")])  # inside the default destinations


def system_read(secret, purpose="test read", **kwargs):
    """The system reading a value to send it to a host inside the secret's destinations."""
    return services.use_secret(secret, purpose, destination=DESTINATION, **kwargs)


def field_error(response, name: str) -> str:
    """The first error the kit's form page shows right under field `name` ("" when none)."""
    import re

    html = response.content.decode()
    match = re.search(rf'<div class="invalid-feedback d-block" id="id_{name}_error_1">(.*?)</div>', html, re.S)
    return match.group(1).strip() if match else ""

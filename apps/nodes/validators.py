"""Names and addresses that reach shells, Slurm and SSH: strict on purpose."""
import ipaddress
import re

from django.core.exceptions import ValidationError

NODE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
UNIX_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/=-]{0,62}$")


def validate_node_name(value: str) -> None:
    """Letters, digits, '-', '_', '.'; starts with a letter or digit (never '-')."""
    if not isinstance(value, str) or not NODE_NAME.match(value):
        raise ValidationError(
            "Use 1-63 letters, digits, '-', '_' or '.', starting with a letter or digit.", code="invalid_name")


def validate_address(value: str) -> None:
    try:
        ipaddress.ip_address(value)
        return
    except ValueError:
        pass
    if not isinstance(value, str) or not HOSTNAME.match(value):
        raise ValidationError("Enter an IP address or a DNS name.", code="invalid_address")


def validate_unix_user(value: str) -> None:
    if not isinstance(value, str) or not UNIX_USER.match(value):
        raise ValidationError("Enter a valid Unix user name.", code="invalid_user")


def validate_labels(value) -> None:
    if not isinstance(value, list) or not all(isinstance(v, str) and LABEL.match(v) for v in value):
        raise ValidationError("Labels are a list of short words (letters, digits, . _ : / = -).", code="invalid_labels")

"""Names and addresses that reach shells, Slurm and SSH: strict on purpose."""
import ipaddress
import re
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError

NODE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
UNIX_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/=-]{0,62}$")


def validate_node_name(value: str) -> None:
    """Letters, digits, '-', '_', '.'; starts with a letter or digit (never '-')."""
    if not isinstance(value, str) or not NODE_NAME.fullmatch(value):
        raise ValidationError(
            "Use 1-63 letters, digits, '-', '_' or '.', starting with a letter or digit.", code="invalid_name")


def validate_address(value: str) -> None:
    try:
        ipaddress.ip_address(value)
        return
    except ValueError:
        pass
    if not isinstance(value, str) or not HOSTNAME.fullmatch(value):
        raise ValidationError("Enter an IP address or a DNS name.", code="invalid_address")


def validate_unix_user(value: str) -> None:
    if not isinstance(value, str) or not UNIX_USER.fullmatch(value):
        raise ValidationError("Enter a valid Unix user name.", code="invalid_user")


MAX_LABELS = 32


def validate_labels(value) -> None:
    """A bounded list of bounded strings: at most MAX_LABELS labels of at most 63 characters."""
    if not isinstance(value, list):
        raise ValidationError("Labels are a list of short words (letters, digits, . _ : / = -).", code="invalid_labels")
    if len(value) > MAX_LABELS:
        raise ValidationError(f"At most {MAX_LABELS} labels per node.", code="too_many_labels")
    if not all(isinstance(v, str) and LABEL.fullmatch(v) for v in value):
        raise ValidationError("Labels are a list of short words (1-63 letters, digits, . _ : / = -).",
                              code="invalid_labels")


def bmc_host(driver: str, address: str) -> str:
    """The host a BMC address points at. Redfish: an https:// URL without credentials (plain
    http would send the BMC password in clear to anyone on the path); IPMI: a host."""
    if driver == "ipmi":
        validate_address(address)
        return address
    parts = urlsplit(address) if isinstance(address, str) else None
    if parts is None or parts.scheme != "https" or not parts.hostname:
        raise ValidationError("A Redfish BMC address is an https:// URL (https://host[:port]); plain http is refused.",
                              code="invalid_bmc_address")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValidationError("Put no credentials, query or fragment in the Redfish URL; the credential comes "
                              "from the key vault.", code="invalid_bmc_address")
    try:
        parts.port  # noqa: B018 - raises ValueError for an out-of-range port
    except ValueError:
        raise ValidationError("The port in the Redfish URL is not valid.", code="invalid_bmc_address") from None
    validate_address(parts.hostname)
    return parts.hostname

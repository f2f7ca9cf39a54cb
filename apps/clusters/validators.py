"""Names that reach Slurm commands and slurm.conf: strict on purpose (argv keeps them inert; these
keep them meaningful: no '=', spaces, commas or control characters that would change a line)."""
import re

from django.core.exceptions import ValidationError

# The checks use fullmatch: with .match, `$` also accepts a trailing newline ("batch\n").
CLUSTER_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
SLURM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,62}$")  # accounts, users, partitions, QOS
SLURM_TIME = re.compile(r"^(UNLIMITED|INFINITE|\d{1,7}|(\d{1,4}-)?\d{1,2}(:\d{1,2}){0,2})$")
REASON = re.compile(r"^[^\x00-\x1f\x7f=]{1,200}$")


def validate_cluster_name(value: str) -> None:
    if not isinstance(value, str) or not CLUSTER_NAME.fullmatch(value):
        raise ValidationError("Use 1-40 lower-case letters, digits, '-' or '_', starting with a letter "
                              "(Slurm's ClusterName rules).", code="invalid_cluster_name")


def validate_slurm_name(value: str) -> None:
    if not isinstance(value, str) or not SLURM_NAME.fullmatch(value) or value == "root":
        raise ValidationError("Use 1-63 letters, digits, '_', '.' or '-', starting with a letter or '_' "
                              "(not root).", code="invalid_slurm_name")


def validate_slurm_time(value: str) -> None:
    if not isinstance(value, str) or not SLURM_TIME.fullmatch(value):
        raise ValidationError("Use UNLIMITED, minutes, or [days-]hours:minutes:seconds.", code="invalid_time")


def validate_reason(value: str) -> None:
    """A drain/down reason: one line Slurm stores as it is, so no control characters and no '='."""
    if not isinstance(value, str) or not value.strip() or not REASON.fullmatch(value):
        raise ValidationError("Give a reason of 1-200 characters on one line, without '='.", code="invalid_reason")


GRES_FILE_PATTERN = re.compile(r"^/[A-Za-z0-9_./{}-]{1,299}$")


def validate_gres_file_pattern(value: str) -> None:
    """gres.conf File= pattern: an absolute path with exactly one {index} (and optionally {node});
    nothing that could end the File= value or start another key."""
    ok = isinstance(value, str) and GRES_FILE_PATTERN.fullmatch(value) and value.count("{index}") == 1
    if ok:
        rest = value.replace("{index}", "").replace("{node}", "")
        ok = "{" not in rest and "}" not in rest and ".." not in value.split("/")
    if not ok:
        raise ValidationError("Use an absolute device path with one {index} (and optionally {node}), e.g. "
                              "/dev/nvidia{index}; letters, digits, '_', '.', '-' and '/' only.",
                              code="invalid_gres_file_pattern")

"""Names that reach shells, Slurm and SSH refuse a trailing newline (a regex's `$` alone accepts
one before the end of the text), and so do key-vault destinations and Slurm reasons."""
import pytest
from django.core.exceptions import ValidationError

from apps.clusters.validators import validate_reason, validate_slurm_name
from apps.keyvault.destinations import validate_destinations
from apps.nodes.validators import validate_address, validate_labels, validate_node_name, validate_unix_user


@pytest.mark.parametrize("check, value", [
    (validate_node_name, "node1\n"), (validate_address, "host.example\n"), (validate_unix_user, "aimx\n"),
    (validate_labels, ["gpu\n"]), (validate_slurm_name, "batch\n"), (validate_reason, "ok\n"),
    (validate_reason, "maintenance\r"), (validate_reason, "   "),
])
def test_a_trailing_newline_or_blank_is_refused(check, value):
    with pytest.raises(ValidationError):
        check(value)


@pytest.mark.parametrize("check, value", [
    (validate_node_name, "node1"), (validate_address, "host.example"), (validate_unix_user, "aimx"),
    (validate_labels, ["gpu"]), (validate_slurm_name, "batch"), (validate_reason, "disk swap, back at 14:00"),
])
def test_the_same_names_without_it_pass(check, value):
    check(value)


def test_a_destination_name_with_a_newline_is_refused():
    with pytest.raises(ValidationError):
        validate_destinations(["bmc.example\n"])

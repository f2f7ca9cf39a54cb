import pytest

from apps.clusters.slurm import InvalidName, validate

from .payloads import REASONS, SCONTROL, SHELL


@pytest.mark.parametrize("check", [validate.node_name, validate.partition_name, validate.account_name,
                                   validate.qos_name, validate.user_name, validate.job_name, validate.job_id])
@pytest.mark.parametrize("payload", SHELL + SCONTROL)
def test_names_refuse_injection_payloads(check, payload):
    with pytest.raises(InvalidName) as err:
        check(payload)
    assert err.value.field and str(err.value).startswith(err.value.field + ":")


@pytest.mark.parametrize("check, good", [
    (validate.node_name, "lab-node10"), (validate.node_name, "gpu01.cluster"), (validate.partition_name, "gpu_long"),
    (validate.account_name, "physics-2024"), (validate.user_name, "alice.b"), (validate.job_name, "train-v2.1"),
    (validate.job_id, "42"), (validate.job_id, "41_3"), (validate.qos_name, "high"),
])
def test_names_accept_ordinary_values(check, good):
    assert check(good) == good


def test_node_list_expands_checks_and_compresses():
    assert validate.node_list(["lab-node10", "lab-node1"]) == "lab-node[1,10]"
    assert validate.node_list("lab-node[1-2]") == "lab-node[1-2]"
    for bad in (["lab-node1 State=RESUME"], "lab-node1 State=IDLE", "x=y", [], "n[1-"):
        with pytest.raises(InvalidName):
            validate.node_list(bad)


@pytest.mark.parametrize("payload", REASONS)
def test_reasons_refuse_what_would_read_back_as_fields(payload):
    with pytest.raises(InvalidName) as err:
        validate.reason(payload)
    assert err.value.field == "reason"


def test_reason_keeps_ordinary_text_with_shell_characters():
    text = "GPU 1 ECC errors; see ticket #42 $(not run) `inert`"
    assert validate.reason(text) == text  # one argv element: nothing interprets it
    with pytest.raises(InvalidName, match="required"):
        validate.reason("  ")
    assert validate.reason("", required=False) == ""


def test_paths_and_signals():
    assert validate.path("/home/alice/slurm-%j.out") == "/home/alice/slurm-%j.out"
    for bad in ("relative/x", "/a\nb", "", "~/x"):
        with pytest.raises(InvalidName):
            validate.path(bad)
    assert validate.signal_name("usr1") == "USR1" and validate.signal_name("15") == "15"
    with pytest.raises(InvalidName):
        validate.signal_name("KILL;reboot")


def test_positive_numbers():
    assert validate.positive(4, "gpus") == 4
    for bad in (0, -1, True, "3", 2.5):
        with pytest.raises(InvalidName):
            validate.positive(bad, "gpus")

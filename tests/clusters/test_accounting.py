"""sacctmgr commands from a desired-state diff (dry run first), against real 22.05 `show` output."""
import pytest

from apps.clusters.slurm import InvalidName, parsers
from apps.clusters.slurm.accounting import (AccountSpec, CurrentState, DesiredState, Entity, Limits, Op, QosSpec,
                                            UserSpec, diff)

from .samples import sample


def current():
    return CurrentState(cluster="labtest", accounts=parsers.accounts(sample("sacctmgr_account_22.05.txt")),
                        associations=parsers.associations(sample("sacctmgr_assoc_22.05.txt")),
                        qos=parsers.qos(sample("sacctmgr_qos_22.05.txt")))


PHYSICS = Limits(grp_tres={"gres/gpu": 4}, max_jobs=10, max_wall_minutes=60, qos=("normal",))


def test_matching_state_gives_no_commands():
    desired = DesiredState(cluster="labtest", accounts=[AccountSpec("physics", limits=PHYSICS)],
                           users=[UserSpec("root", "physics")], qos=[QosSpec("high")])
    assert diff(current(), desired) == []


def test_new_account_user_and_qos():
    desired = DesiredState(
        cluster="labtest",
        accounts=[AccountSpec("bio", description="Biology lab", organization="science",
                              limits=Limits(grp_tres={"gres/gpu": 2}, grp_tres_mins={"gres/gpu": 6000},
                                            max_tres_per_job={"gres/gpu": 1}, max_jobs=3))],
        users=[UserSpec("alice", "bio")], qos=[QosSpec("gpu-long", max_wall_minutes=2880)])
    cmds = diff(current(), desired)
    assert [(c.op, c.entity, c.name) for c in cmds] == [(Op.ADD, Entity.QOS, "gpu-long"),
                                                        (Op.ADD, Entity.ACCOUNT, "bio"),
                                                        (Op.ADD, Entity.USER, "bio/alice")]
    assert cmds[0].argv == ("sacctmgr", "-i", "add", "qos", "gpu-long", "MaxWall=2-00:00:00")
    assert cmds[1].argv == ("sacctmgr", "-i", "add", "account", "bio", "cluster=labtest",
                            "Description=Biology lab", "Organization=science", "GrpTRES=gres/gpu=2",
                            "GrpTRESMins=gres/gpu=6000", "MaxTRES=gres/gpu=1", "MaxJobs=3")
    assert cmds[2].argv == ("sacctmgr", "-i", "add", "user", "alice", "account=bio", "cluster=labtest")
    assert all(c.summary for c in cmds)


def test_changed_limits_become_one_modify_each():
    desired = DesiredState(cluster="labtest", accounts=[AccountSpec("physics", limits=Limits(
        grp_tres={"gres/gpu": 8}, max_jobs=None, max_wall_minutes=120, qos=("normal", "high")))],
        users=[UserSpec("root", "physics", Limits(max_jobs=2))])
    account, user = diff(current(), desired)
    assert account.argv == ("sacctmgr", "-i", "modify", "account", "where", "name=physics", "cluster=labtest",
                            "set", "GrpTRES=gres/gpu=8", "MaxJobs=-1", "MaxWall=02:00:00", "QOS=normal,high")
    assert user.op == Op.MODIFY and user.argv[-2:] == ("MaxJobs=2", "MaxWall=-1")
    assert "name=root" in user.argv and "account=physics" in user.argv


def test_prune_removes_only_users_of_named_accounts():
    desired = DesiredState(cluster="labtest", accounts=[AccountSpec("physics", limits=PHYSICS)])
    assert diff(current(), desired) == []
    (remove,) = diff(current(), desired, prune_users=True)
    assert remove.op == Op.DELETE and remove.argv == ("sacctmgr", "-i", "delete", "user", "where", "name=root",
                                                      "account=physics", "cluster=labtest")


@pytest.mark.parametrize("spec", [
    AccountSpec("phys;ics"), AccountSpec("physics", description="a\nb"), AccountSpec("physics", parent="$(x)"),
    AccountSpec("physics", limits=Limits(grp_tres={"gres/gpu;x": 1})),
    AccountSpec("physics", limits=Limits(grp_tres={"gres/gpu": "4 MaxJobs=99"})),
    AccountSpec("physics", limits=Limits(qos=("normal", "high,evil"))),
])
def test_injection_in_desired_state_is_refused(spec):
    with pytest.raises(InvalidName):
        diff(current(), DesiredState(cluster="labtest", accounts=[spec]))


def test_user_in_an_unnamed_account_is_refused():
    with pytest.raises(InvalidName, match="does not name"):
        diff(current(), DesiredState(cluster="labtest", users=[UserSpec("alice", "chem")]))

"""The Salt function policy refuses every execution path before anything is sent, and the
client checks it for every chunk (a session that must never be used proves nothing left)."""
from __future__ import annotations

import pytest

from apps.nodes.salt import (DEFAULT_DENY, SaltApi, SaltClientKind, SaltFunctionRefused, SaltPolicy, SaltRole,
                             key_fingerprint, pem_body_fingerprint)
from apps.nodes.salt.results import HardwareSummary, MinionReturn

POLICY = SaltPolicy()
EXEC_CLIENTS = ("local", "local_async", "local_batch", "local_subset")


def refused(role, chunk) -> SaltFunctionRefused:
    with pytest.raises(SaltFunctionRefused) as info:
        POLICY.check(role, chunk)
    return info.value


# Every way to run a command or a script, move files, run states or other functions indirectly.
EXECUTION_PATHS = [
    "cmd.run", "cmd.run_all", "cmd.script", "cmd.exec_code", "cmd.shell", "cmd.retcode", "cmd.powershell",
    "cmdmod.run", "state.highstate", "state.single", "state.template_str", "state.low", "state.high",
    "state.sls_id", "state.pkg", "state.orchestrate", "cp.get_file", "cp.push", "cp.get_url",
    "file.write", "file.managed", "file.copy", "file.remove", "archive.extract", "event.send", "event.fire",
    "publish.publish", "mine.send", "schedule.add", "saltutil.cmd", "saltutil.runner", "saltutil.wheel",
    "cron.set_job", "at.at", "pillar.items", "pillar.get", "config.get", "sdb.get", "slsutil.renderer",
    "jinja.render", "module.run", "ps.kill_pid", "ssh.set_auth_key", "pip.install", "git.clone",
    "docker.run", "lxc.run", "nspawn.run", "environ.setenv",
]


@pytest.mark.parametrize("client", EXEC_CLIENTS)
@pytest.mark.parametrize("fun", EXECUTION_PATHS)
def test_every_execution_path_is_refused_even_for_admin(client, fun):
    exc = refused(SaltRole.ADMIN, {"client": client, "tgt": "*", "fun": fun, "arg": ["id"]})
    assert exc.fun == fun and exc.role == "admin" and exc.client == client
    assert fun in str(exc) and "refused" in str(exc)


@pytest.mark.parametrize("fun", ["cmd.run", "state.highstate", "cp.get_file", "event.send"])
def test_deny_list_wins_over_a_careless_allow_all(fun):
    policy = SaltPolicy(roles={"root": ("*", "runner:*", "wheel:*")})
    with pytest.raises(SaltFunctionRefused, match="denied by the policy"):
        policy.check("root", {"client": "local", "tgt": "*", "fun": fun})
    for runner in ("salt.cmd", "state.orchestrate", "pillar.show_pillar", "salt.execute", "fileserver.file_list"):
        with pytest.raises(SaltFunctionRefused, match="denied"):
            policy.check("root", {"client": "runner", "fun": runner})
    for wheel in ("file_roots.write", "pillar_roots.write", "config.update_config", "key.gen_accept"):
        with pytest.raises(SaltFunctionRefused, match="denied"):
            policy.check("root", {"client": "wheel", "fun": wheel})


def test_settings_cannot_remove_the_default_deny_list():
    policy = SaltPolicy.from_data({"roles": {"root": ["*"]}, "deny": ["test.sleep"]})
    assert set(DEFAULT_DENY) <= set(policy.deny) and "test.sleep" in policy.deny
    with pytest.raises(SaltFunctionRefused):
        policy.check("root", {"client": "local", "tgt": "*", "fun": "cmd.run"})
    with pytest.raises(SaltFunctionRefused):
        policy.check("root", {"client": "local", "tgt": "*", "fun": "test.sleep"})


def test_several_functions_in_one_call_are_each_checked():
    exc = refused(SaltRole.ADMIN, {"client": "local", "tgt": "*", "fun": ["test.ping", "cmd.run"],
                                   "arg": [[], ["id"]]})
    assert exc.fun == "cmd.run"
    POLICY.check(SaltRole.VIEWER, {"client": "local", "tgt": "*", "fun": ["test.ping", "test.version"],
                                   "arg": [[], []]})


@pytest.mark.parametrize("client", ["runner", "runner_async", "wheel", "wheel_async"])
def test_master_side_clients_refused_unless_allowed(client):
    exc = refused(SaltRole.VIEWER, {"client": client, "fun": "manage.status"})
    assert "not allowed for role viewer" in exc.reason
    POLICY.check(SaltRole.VIEWER, {"client": "runner", "fun": "jobs.list_job", "jid": "1" * 20})


def test_ssh_client_and_unknown_clients_are_never_allowed():
    policy = SaltPolicy(roles={"root": ("*",)})
    with pytest.raises(SaltFunctionRefused, match="salt-ssh"):
        policy.check("root", {"client": "ssh", "tgt": "*", "fun": "test.ping"})
    with pytest.raises(SaltFunctionRefused, match="unknown salt-api client"):
        policy.check("root", {"client": "raw_local", "tgt": "*", "fun": "test.ping"})


@pytest.mark.parametrize("fun", ["CMD.run", "cmd.run\n", " cmd.run", "cmd .run", "cmd", "", "test.ping;id",
                                 "../cmd.run", None, 5])
def test_function_names_that_are_not_plain_are_refused(fun):
    policy = SaltPolicy(roles={"root": ("*",)})
    with pytest.raises(SaltFunctionRefused):
        policy.check("root", {"client": "local", "tgt": "*", "fun": fun})


@pytest.mark.parametrize("key", ["ret", "ret_config", "module_executors", "executor_opts", "eauth", "token"])
def test_options_that_reroute_returns_or_executors_are_refused(key):
    exc = refused(SaltRole.ADMIN, {"client": "local", "tgt": "*", "fun": "test.ping", key: "x"})
    assert key in exc.reason
    refused(SaltRole.ADMIN, {"client": "local", "tgt": "*", "fun": "test.ping", "kwarg": {key: "x"}})


def test_state_apply_only_for_allowed_states():
    ok = {"client": "local_async", "tgt": "n1", "fun": "state.apply", "arg": ["slurm.node"]}
    POLICY.check(SaltRole.OPERATOR, ok)
    POLICY.check(SaltRole.OPERATOR, {**ok, "arg": [], "kwarg": {"mods": "slurm.node", "test": True}})
    assert "highstate" in refused(SaltRole.OPERATOR, {**ok, "arg": []}).reason
    assert "not in the allowed states" in refused(SaltRole.OPERATOR, {**ok, "arg": ["slurm.node,evil"]}).reason
    assert "not in the allowed states" in refused(SaltRole.OPERATOR, {**ok, "arg": [["slurm.node", "x"]]}).reason
    assert "pillar" in refused(SaltRole.OPERATOR, {**ok, "kwarg": {"pillar": {"munge_key": "s"}}}).reason
    assert "kwarg" in refused(SaltRole.OPERATOR, {**ok, "arg": ["slurm.node", "pillar={}"]}).reason
    # a viewer may not apply states at all; other state functions stay denied for everyone
    assert "not allowed for role viewer" in refused(SaltRole.VIEWER, ok).reason
    refused(SaltRole.ADMIN, {**ok, "fun": "state.single", "arg": ["cmd.run", "id"]})
    assert "not in the allowed states" in refused(
        SaltRole.OPERATOR, {"client": "local", "tgt": "*", "fun": "state.sls", "arg": ["other"]}).reason


def test_roles_and_unknown_role():
    assert POLICY.allows(SaltRole.VIEWER, "local", "test.ping")
    assert not POLICY.allows(SaltRole.VIEWER, "wheel", "key.accept_dict")
    assert POLICY.allows(SaltRole.ADMIN, "wheel", "key.accept_dict")
    assert "unknown role" in refused("intruder", {"client": "local", "tgt": "*", "fun": "test.ping"}).reason


class _NoNetwork:
    """A requests session that fails the test if the client sends anything."""

    def post(self, *args, **kwargs):
        raise AssertionError("a refused call reached the network")


def _api(**kwargs):
    return SaltApi("https://192.0.2.10:8000", "u", "p", "file", session=_NoNetwork(), **kwargs)


def test_client_refuses_before_sending():
    api = _api()
    with pytest.raises(SaltFunctionRefused):
        api.run("*", "cmd.run", ["id"])
    with pytest.raises(SaltFunctionRefused):
        api.submit(["n1"], "cmd.script", ["salt://x.sh"])
    with pytest.raises(SaltFunctionRefused):
        api.as_role(SaltRole.VIEWER).accept("n1", "aa:bb")
    with pytest.raises(SaltFunctionRefused):
        api.as_role(SaltRole.OPERATOR).delete("n1")
    with pytest.raises(SaltFunctionRefused):
        api.call({"client": SaltClientKind.RUNNER.value, "fun": "salt.cmd", "arg": ["cmd.run", "id"]})


@pytest.mark.parametrize("bad", ["*", "n1*", "n[12]", "a b", "", "n1,n2", "-rf", "x" * 300])
def test_client_refuses_minion_ids_that_would_glob(bad):
    api = _api()
    with pytest.raises(ValueError):
        api.accept(bad, "aa")
    with pytest.raises(ValueError):
        api.run([bad], "test.ping")


@pytest.mark.parametrize("url", ["http://10.0.0.5:8000", "ftp://127.0.0.1", "https://u:p@salt:8000",
                                 "https://salt:8000/api", "salt:8000"])
def test_client_refuses_unsafe_addresses(url):
    with pytest.raises(ValueError):
        SaltApi(url, "u", "p", "file")


def test_plain_http_allowed_on_loopback_only():
    assert SaltApi("http://127.0.0.1:8000", "u", "p", "file").url == "http://127.0.0.1:8000"


PEM = ("-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEApiQhSJJVWroqDTbz253O\n"
       "-----END PUBLIC KEY-----\n")


def test_fingerprints_are_salts_two_forms():
    import hashlib

    body = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEApiQhSJJVWroqDTbz253O\n"
    assert pem_body_fingerprint(PEM).replace(":", "") == hashlib.sha256(body.encode()).hexdigest()
    assert key_fingerprint(PEM).replace(":", "") == hashlib.sha256(PEM.strip().encode()).hexdigest()
    assert key_fingerprint(PEM) == key_fingerprint(PEM.strip())  # the master keeps minion keys stripped


def test_hardware_summary_from_grains():
    grains = {"cpu_model": "EPYC", "num_cpus": 64, "mem_total": 515000, "num_gpus": 2,
              "gpus": [{"vendor": "nvidia", "model": "H100"}, {"vendor": "nvidia", "model": "H100"}],
              "hwaddr_interfaces": {"eth0": "52:54:00:00:00:01", "ib0": "80:00:00:48:fe:80:00:00:00:00:00:00:"
                                    "00:02:c9:03:00:0a:0b:0c", "ibp1s0": "x"},
              "os": "Ubuntu", "osrelease": "22.04", "saltversion": "3008.4"}
    hw = HardwareSummary.from_grains("n1", grains)
    assert (hw.num_gpus, hw.gpus[0]["model"], hw.num_cpus, hw.mem_total_mb) == (2, "H100", 64, 515000)
    assert hw.infiniband == ("ib0", "ibp1s0")


def test_minion_return_parses_full_returns():
    assert MinionReturn.from_full_return("n", {"ret": 3, "retcode": 3, "jid": "1"}).success is False
    assert MinionReturn.from_full_return("n", {"return": True, "retcode": 0, "success": True}).success
    assert MinionReturn.from_full_return("n", {"ret": "x", "retcode": 0, "success": False}).success is False

"""Redfish (sushy) and IPMI (ipmitool) drivers against sushy-emulator and ipmi_sim started here."""
from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import bcrypt
import pytest

from apps.nodes import bmc, ipmi
from apps.nodes.bmc import BootDevice, PowerAction, wait_for_power
from apps.nodes.ipmi import IpmiClient
from apps.nodes.redfish import RedfishClient

SYSTEM_ID = "6b1a1d2c-0e9f-4c47-9d0c-5a0c1f0b7e11"
USER, PASSWORD = "admin", "Bmc-pass-7f3"
DEADLINE = 20.0  # generous: the emulator applies power changes within about a second

# The fake driver applies each power change after random.randint(1, 11) seconds; pin it to the
# low end so the suite stays fast (real BMCs are slow too: the client polls either way).
EMULATOR = """
import sys
from sushy_tools.emulator.resources.systems import fakedriver
class QuickRandom:
    randint = staticmethod(lambda low, high: low)
fakedriver.random = QuickRandom
from sushy_tools.emulator.main import main
sys.argv = ["sushy-emulator", "--config", sys.argv[1]]
sys.exit(main())
"""

CHASSIS_HOOK = """#!/bin/sh
# ipmi_sim chassis_control hook: '<mc> get parm...' / '<mc> set parm value...'; state in files here.
dir=$(dirname "$0"); shift; op=$1; shift
case $op in
  get) for p in "$@"; do case $p in
         power) echo "power:$(cat "$dir/power" 2>/dev/null || echo 0)";;
         boot) echo "boot:$(cat "$dir/boot" 2>/dev/null || echo default)";;
         *) echo "Invalid parameter: $p"; exit 1;;
       esac; done;;
  set) while [ $# -ge 2 ]; do case $1 in
         power) echo "$2" > "$dir/power";;
         shutdown) echo 0 > "$dir/power";;
         reset) ;;
         boot) echo "$2" > "$dir/boot";;
         *) echo "Invalid parameter: $1"; exit 1;;
       esac; shift 2; done;;
  *) exit 1;;
esac
"""

# One temperature sensor with its SDR (ipmitool's sdr commands clear an empty repository).
SDR = ("0x00 0x00 0x51 0x01 0x31 0x20 0x00 0x01 0x03 0x01 0x67 0x88 0x01 0x01 0xc0 0x0f 0xc0 0x7f 0x38 0x38 "
       "0x00 0x01 0x00 0x00 0x01 0x00 0x00 0x00 0x00 0x00 0x03 0x60 0xb0 0x00 0xb0 0x00 0xa0 0x90 0x70 0x00 "
       "0x00 0x00 0x00 0x00 0x00 0x00 0x00 0xc6 'C 'P 'U '_ 'T 'm")
EVENTS = "000111111000000 " * 4


def free_port(kind=socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(proc):
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@pytest.fixture(scope="module")
def redfish_url(tmp_path_factory):
    root, port = tmp_path_factory.mktemp("redfish"), free_port()
    (root / "htpasswd").write_text(f"{USER}:{bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()}\n")
    (root / "state").mkdir()
    (root / "emulator.conf").write_text(f"""
SUSHY_EMULATOR_LISTEN_IP = "127.0.0.1"
SUSHY_EMULATOR_LISTEN_PORT = {port}
SUSHY_EMULATOR_FAKE_DRIVER = True
SUSHY_EMULATOR_FAKE_SYSTEMS = [{{"uuid": "{SYSTEM_ID}", "name": "node1", "power_state": "Off",
                                "nics": [{{"mac": "00:5c:52:31:3a:9c", "ip": "192.0.2.10"}}]}}]
SUSHY_EMULATOR_AUTH_FILE = "{root}/htpasswd"
SUSHY_EMULATOR_STATE_DIR = "{root}/state"
""")
    log = (root / "emulator.log").open("w")
    proc = subprocess.Popen([sys.executable, "-c", EMULATOR, str(root / "emulator.conf")], stdout=log, stderr=log)
    url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(f"{url}/redfish/v1/", timeout=1).read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                stop(proc)
                raise RuntimeError(f"sushy-emulator did not start: {(root / 'emulator.log').read_text()[-2000:]}")
            time.sleep(0.05)
    yield url
    stop(proc)


@pytest.fixture(scope="module")
def ipmi_port(tmp_path_factory):
    if not shutil.which("ipmi_sim") or not shutil.which("ipmitool"):
        pytest.skip("needs Debian openipmi (ipmi_sim) and ipmitool")
    root, port = tmp_path_factory.mktemp("ipmi"), free_port(socket.SOCK_DGRAM)
    hook = root / "chassis_control"
    hook.write_text(CHASSIS_HOOK)
    hook.chmod(0o755)
    (root / "lan.conf").write_text(f"""name "aimx"
set_working_mc 0x20
  startlan 1
    addr 127.0.0.1 {port}
    priv_limit admin
    allowed_auths_callback none md5
    allowed_auths_user none md5
    allowed_auths_operator none md5
    allowed_auths_admin none md5
    guid a123456789abcdefa123456789abcdef
  endlan
  chassis_control "{hook} 0x20"
  user 2 true "{USER}" "{PASSWORD}" admin 10 none md5
""")
    (root / "sim.emu").write_text(f"""mc_setbmc 0x20
mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr
sel_enable 0x20 1000 0x0a
sensor_add 0x20 0 1 0x01 0x01
main_sdr_add 0x20 {SDR}
sensor_set_value 0x20 0 1 0x2d 0
sensor_set_event_support 0x20 0 1 enable scanning per-state {EVENTS}
mc_enable 0x20
""")
    (root / "state").mkdir()
    log = (root / "sim.log").open("w")
    proc = subprocess.Popen(["ipmi_sim", "-n", "-c", str(root / "lan.conf"), "-f", str(root / "sim.emu"),
                             "-s", str(root / "state")], stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    client, deadline = IpmiClient("127.0.0.1", USER, PASSWORD, port=port, request_timeout=1), time.monotonic() + 10
    while True:
        try:
            client.power_state()
            break
        except bmc.BmcError:
            if proc.poll() is not None or time.monotonic() > deadline:
                stop(proc)
                raise RuntimeError(f"ipmi_sim did not start: {(root / 'sim.log').read_text()[-2000:]}")
            time.sleep(0.1)
    yield port
    stop(proc)


@pytest.fixture
def redfish(redfish_url):
    return RedfishClient(redfish_url, USER, PASSWORD, timeout=5, poll_interval=0.2)


@pytest.fixture
def ipmi_client(ipmi_port):
    return IpmiClient("127.0.0.1", USER, PASSWORD, port=ipmi_port, request_timeout=1)


def drive(client, action, expected):
    client.power(action)
    waited = wait_for_power(client, expected, DEADLINE, poll_interval=0.2)
    assert client.power_state() == expected
    return waited


def test_redfish_power_on_off_cycle_reset(redfish):
    assert isinstance(redfish, bmc.BmcClient)
    drive(redfish, PowerAction.ON, "on")
    drive(redfish, PowerAction.OFF, "off")
    drive(redfish, PowerAction.ON, "on")
    drive(redfish, PowerAction.CYCLE, "on")  # the emulator has no PowerCycle: ForceOff, wait, On
    drive(redfish, PowerAction.RESET, "on")
    drive(redfish, PowerAction.GRACEFUL_SHUTDOWN, "off")
    drive(redfish, PowerAction.CYCLE, "on")  # from off: straight on


def test_redfish_boot_device_health_thermal(redfish_url, redfish):
    redfish.set_boot_device(BootDevice.PXE)
    assert redfish.boot_device()["device"] == "pxe"  # the emulator reads Once back as Continuous
    redfish.set_boot_device(BootDevice.CD, persistent=True)
    assert redfish.boot_device() == {"device": "cd", "persistent": True}
    redfish.set_boot_device(BootDevice.DISK)
    assert redfish.boot_device()["device"] == "disk"
    assert redfish.health()["health"] == "ok"
    temps = [r for r in redfish.thermal() if r["kind"] == "temperature"]
    assert temps and all(r["name"] and isinstance(r["reading"], (int, float)) for r in temps)
    by_id = RedfishClient(redfish_url, USER, PASSWORD, system_id=SYSTEM_ID)
    assert by_id.power_state() in ("on", "off")
    with pytest.raises(bmc.BmcError, match="HTTP 404"):  # the status, never the body
        RedfishClient(redfish_url, USER, PASSWORD, system_id="no-such-system").power_state()


def test_redfish_wrong_credentials_and_unreachable(redfish_url):
    with pytest.raises(bmc.BmcAuthFailed, match="authentication failed") as info:
        RedfishClient(redfish_url, USER, "wrong-password").power_state()
    assert "wrong-password" not in str(info.value)
    start = time.monotonic()
    with pytest.raises(bmc.BmcUnreachable, match="Connection refused"):
        RedfishClient(f"http://127.0.0.1:{free_port()}", USER, PASSWORD, timeout=2).power_state()
    assert time.monotonic() - start < 2
    with pytest.raises(ValueError):
        RedfishClient(f"http://{USER}:{PASSWORD}@127.0.0.1:1", USER, PASSWORD)


def test_wait_for_power_times_out_with_the_last_state(redfish):
    state = redfish.power_state()
    other = "off" if state == "on" else "on"
    start = time.monotonic()
    with pytest.raises(bmc.PowerTimeout, match=f"did not become '{other}' within 0.[4-9]s .*last seen '{state}'"):
        wait_for_power(redfish, other, 0.5, poll_interval=0.2)
    assert time.monotonic() - start < 1.5


def test_ipmi_power_actions_reach_their_state(ipmi_client):
    assert isinstance(ipmi_client, bmc.BmcClient)
    drive(ipmi_client, PowerAction.ON, "on")
    drive(ipmi_client, PowerAction.OFF, "off")
    drive(ipmi_client, PowerAction.CYCLE, "on")  # from off: on
    ipmi_client.power(PowerAction.CYCLE)  # ipmi_sim: off now, on again a second later
    wait_for_power(ipmi_client, "on", DEADLINE, poll_interval=0.2)
    drive(ipmi_client, PowerAction.RESET, "on")
    drive(ipmi_client, PowerAction.GRACEFUL_SHUTDOWN, "off")


def test_ipmi_boot_device_health_thermal(ipmi_client):
    for device, expected in ((BootDevice.PXE, "pxe"), (BootDevice.CD, "cd"), (BootDevice.DISK, "disk")):
        ipmi_client.set_boot_device(device, persistent=device is BootDevice.DISK)
        assert ipmi_client.boot_device()["device"] == expected
    assert ipmi_client.health()["health"] == "ok"
    assert ipmi_client.thermal() == [{"kind": "temperature", "name": "CPU_Tm", "reading": 45.0, "units": "Cel",
                                      "health": "ok"}]


def test_ipmi_password_never_on_the_command_line(ipmi_client, monkeypatch):
    seen = []
    real_run = subprocess.run

    def spy(argv, **kwargs):
        seen.append((argv, kwargs.get("env", {})))
        return real_run(argv, **kwargs)

    monkeypatch.setattr(ipmi.subprocess, "run", spy)
    ipmi_client.power_state()
    argv, env = seen[0]
    assert PASSWORD not in " ".join(argv) and "-P" not in argv and "-E" in argv
    assert env["IPMI_PASSWORD"] == PASSWORD and argv[argv.index("-C") + 1] == "3"


def test_ipmi_wrong_credentials_and_unreachable(ipmi_port):
    with pytest.raises(bmc.BmcAuthFailed):
        IpmiClient("127.0.0.1", USER, "wrong-password", port=ipmi_port).power_state()
    with pytest.raises(bmc.BmcAuthFailed):
        IpmiClient("127.0.0.1", "nobody", PASSWORD, port=ipmi_port).power_state()
    start = time.monotonic()
    with pytest.raises(bmc.BmcUnreachable):
        IpmiClient("127.0.0.1", USER, PASSWORD, port=free_port(socket.SOCK_DGRAM), request_timeout=1).power_state()
    assert time.monotonic() - start < 4


def test_make_client_picks_the_driver(redfish_url, ipmi_port):
    rf = bmc.make_client("redfish", address=redfish_url, username=USER, password=PASSWORD, verify_tls=False)
    ip = bmc.make_client("ipmi", address="127.0.0.1", port=ipmi_port, username=USER, password=PASSWORD)
    assert isinstance(rf, RedfishClient) and isinstance(ip, IpmiClient)
    assert rf.power_state() in ("on", "off") and ip.power_state() in ("on", "off")
    with pytest.raises(ValueError):
        bmc.make_client("snmp", address="x", username=USER, password=PASSWORD)

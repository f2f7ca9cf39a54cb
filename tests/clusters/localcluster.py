"""A tiny private Slurm 22.05 cluster for tests and for capturing real command output.

munged on its own socket, MariaDB + slurmdbd (for sacct/sacctmgr), slurmctld and two slurmd on
127.0.0.1 with their own ports, two fake GPUs per node (device files made with mknod). Every path
and port lives under `base`; only the PIDs started here are ever signalled.

    python -m tests.clusters.localcluster start /work/main/var/h-slurmclient/cluster 26800
    python -m tests.clusters.localcluster stop  /work/main/var/h-slurmclient/cluster
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

BINARIES = ("munged", "mungekey", "slurmctld", "slurmd", "slurmdbd", "mariadbd", "mariadb-install-db",
            "scontrol", "sbatch", "squeue", "sacct", "sacctmgr")
NODES = ("lab-node1", "lab-node10")  # the names a substring match confuses


def missing_binaries() -> list[str]:
    return [b for b in BINARIES if shutil.which(b) is None and not Path("/usr/sbin", b).exists()]


@dataclass
class LocalCluster:
    base: Path
    port: int  # slurmctld; slurmdbd = port+1, mariadb = port+2, slurmd = port+10, port+11

    @property
    def conf(self) -> Path:
        return self.base / "etc" / "slurm.conf"

    @property
    def env(self) -> dict:
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def _write(self, name: str, text: str, mode: int = 0o644) -> Path:
        path = self.base / "etc" / name
        path.write_text(text)
        path.chmod(mode)
        return path

    def configure(self) -> None:
        b = self.base
        for d in ("etc", "run", "log", "state", "spool", "dev", "db", "out"):
            (b / d).mkdir(parents=True, exist_ok=True)
        for node in NODES:
            (b / "spool" / node).mkdir(exist_ok=True)
            for i in (0, 1):
                dev = b / "dev" / f"{node}-nvidia{i}"
                if not dev.exists():
                    os.mknod(dev, 0o666 | 0o020000, os.makedev(1, 3))  # a copy of /dev/null
        sock = b / "run" / "munge.socket"
        p = self.port
        self._write("slurm.conf", f"""ClusterName=labtest
SlurmctldHost={socket.gethostname()}(127.0.0.1)
SlurmctldPort={p}
SlurmdPort={p + 10}
AuthType=auth/munge
AuthInfo=socket={sock}
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation={b}/state
SlurmdSpoolDir={b}/spool/%n
SlurmctldPidFile={b}/run/slurmctld.pid
SlurmdPidFile={b}/run/slurmd-%n.pid
SlurmctldLogFile={b}/log/slurmctld.log
SlurmdLogFile={b}/log/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MailProg=/bin/true
ReturnToService=2
GresTypes=gpu
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort={p + 1}
AccountingStoragePass={sock}
AccountingStorageTRES=gres/gpu
AccountingStorageEnforce=associations,limits,qos
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=300
NodeName=lab-node1 NodeAddr=127.0.0.1 Port={p + 10} CPUs=2 Sockets=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=2000 Gres=gpu:2 Feature=a100,ib State=UNKNOWN
NodeName=lab-node10 NodeAddr=127.0.0.1 Port={p + 11} CPUs=2 Sockets=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=2000 Gres=gpu:2 Feature=a100 State=UNKNOWN
PartitionName=gpu Nodes=lab-node[1,10] Default=YES MaxTime=02:00:00 State=UP
PartitionName=debug Nodes=lab-node1 MaxTime=30:00 State=UP AllowAccounts=physics,chem AllowQos=normal,high PriorityTier=2
""")
        gres = "".join(f"NodeName={n} Name=gpu File={b}/dev/{n}-nvidia[0-1]\n" for n in NODES)
        self._write("gres.conf", "AutoDetect=off\n" + gres)
        self._write("slurmdbd.conf", f"""AuthType=auth/munge
AuthInfo=socket={sock}
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort={p + 1}
SlurmUser=root
PidFile={b}/run/slurmdbd.pid
LogFile={b}/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort={p + 2}
StorageUser=root
StorageLoc=slurm_acct_db
""", 0o600)

    def _spawn(self, name: str, argv: list[str], env=None) -> int:
        log = open(self.base / "log" / f"{name}.out", "ab")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env or self.env, start_new_session=True)
        (self.base / "run" / f"{name}.started").write_text(str(proc.pid))
        return proc.pid

    def _wait(self, what: str, check, timeout: float = 30) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if check():
                return
            time.sleep(0.2)
        raise RuntimeError(f"{what} did not come up within {timeout} s (logs in {self.base / 'log'})")

    def _ok(self, argv: list[str]) -> bool:
        return subprocess.run(argv, env=self.env, capture_output=True, timeout=10).returncode == 0

    def start(self) -> None:
        self.configure()
        b, p = self.base, self.port
        key, sock = b / "etc" / "munge.key", b / "run" / "munge.socket"
        if not key.exists():
            subprocess.run(["mungekey", "--create", f"--keyfile={key}"], check=True)
        self._spawn("munged", ["munged", "-F", f"--socket={sock}", f"--key-file={key}",
                               f"--pid-file={b}/run/munged.pid", f"--seed-file={b}/run/munged.seed",
                               f"--log-file={b}/log/munged.log", "--force"])
        self._wait("munged", lambda: sock.exists())
        db = b / "db"
        if not (db / "mysql").exists():
            subprocess.run(["mariadb-install-db", f"--datadir={db}", "--user=root", "--skip-test-db",
                            "--auth-root-authentication-method=normal"], check=True, capture_output=True)
        self._spawn("mariadbd", ["mariadbd", f"--datadir={db}", f"--socket={b}/run/mysql.sock", f"--port={p + 2}",
                                 "--bind-address=127.0.0.1", "--user=root", "--skip-grant-tables",
                                 f"--pid-file={b}/run/mariadb.pid", "--innodb-flush-log-at-trx-commit=0",
                                 "--skip-log-bin"])
        self._wait("mariadb", lambda: (b / "run" / "mysql.sock").exists())
        self._spawn("slurmdbd", ["slurmdbd", "-D"])
        self._wait("slurmdbd", lambda: self._ok(["sacctmgr", "-n", "-P", "show", "cluster"]))
        if not self._ok_out(["sacctmgr", "-n", "-P", "show", "cluster", "format=cluster"]):
            subprocess.run(["sacctmgr", "-i", "add", "cluster", "labtest"], env=self.env, check=True,
                           capture_output=True)
        self._spawn("slurmctld", ["slurmctld", "-D", "-i", "-f", str(self.conf)])
        self._wait("slurmctld", lambda: self._ok(["scontrol", "ping"]))
        for node in NODES:
            self._spawn(f"slurmd-{node}", ["slurmd", "-D", "-N", node, "-f", str(self.conf)])
        self._wait("nodes idle", self._all_idle)

    def _ok_out(self, argv: list[str]) -> str:
        return subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=10).stdout.strip()

    def _all_idle(self) -> bool:
        out = self._ok_out(["sinfo", "-N", "-h", "-o", "%N %T"])
        states = dict(line.split() for line in out.splitlines() if line.strip())
        return all(states.get(n, "").startswith(("idle", "mixed", "allocated")) for n in NODES)

    def stop(self) -> None:
        run = self.base / "run"
        for marker in sorted(run.glob("*.started"), key=lambda m: m.name.startswith(("munged", "mariadbd"))):
            pid = int(marker.read_text())
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            marker.unlink()
            _wait_gone(pid)


def _wait_gone(pid: int, timeout: float = 15) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return
        if state == "Z":
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


if __name__ == "__main__":
    action, base = sys.argv[1], Path(sys.argv[2])
    cluster = LocalCluster(base, int(sys.argv[3]) if len(sys.argv) > 3 else 26800)
    cluster.start() if action == "start" else cluster.stop()


def free_base_port(low: int = 27000, high: int = 32000) -> int:
    """A base port whose five ports (base, +1, +2, +10, +11) are all free on 127.0.0.1 now."""
    import random
    for _ in range(200):
        base = random.randrange(low, high, 20)
        try:
            for offset in (0, 1, 2, 10, 11):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", base + offset))
        except OSError:
            continue
        return base
    raise RuntimeError("no free port range for a test Slurm cluster")


def local_runner(cluster: LocalCluster):
    """`run(argv, *, stdin, timeout)` as the portal's SSH runner, but local: subprocess with argv.
    sudo resets the environment, so SLURM_CONF is passed on with env(1) after `sudo ... --`."""
    from apps.nodes.ssh import Result

    def run(argv, *, stdin=None, timeout):
        argv = list(argv)
        if "sudo" in argv and "--" in argv:
            cut = argv.index("--") + 1
            argv[cut:cut] = ["env", f"SLURM_CONF={cluster.conf}"]
        start = time.monotonic()
        proc = subprocess.run(argv, input=stdin, capture_output=True, timeout=timeout, env=cluster.env)
        return Result(proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace"),
                      time.monotonic() - start)

    return run

"""The Slurm client of a cluster: the SSH backend on the cluster's controller (or login node),
reaching it through the nodes app (managed networks, vault credential, strict host keys).

Every failure of the way there becomes the client's TransportError / CommandTimeout, so callers
handle one error family (`SlurmError`) with a readable message.
"""
from __future__ import annotations

from apps.nodes import remote, ssh

from .slurm import SshSlurm
from .slurm.errors import CommandTimeout, TransportError


def runner_for(node, *, purpose: str, actor=None):
    """`run(argv, *, stdin=None, timeout)` on `node` over SSH, as the Slurm client expects it."""

    def run(argv: list[str], *, stdin: bytes | None = None, timeout: float, max_output: int | None = None):
        try:
            return remote.run(node, argv, timeout=timeout, purpose=purpose, stdin=stdin, actor=actor,
                              max_output=max_output)
        except remote.NodeUnavailable as exc:
            raise TransportError(str(exc)) from None
        except ssh.CommandTimeout:
            raise CommandTimeout(argv, timeout) from None
        except ssh.SSHError as exc:
            raise TransportError(f"{node.name}: {exc}") from None

    return run


# Queue, job detail and sacct listings of a large cluster: 10,000 jobs are about 1.7 MB from
# squeue and 12 MB from `scontrol show job -d` (the SSH layer keeps 1 MiB by default).
LARGE_OUTPUT = 64 << 20


def slurm_on(node, *, purpose: str, actor=None) -> SshSlurm:
    return SshSlurm(runner_for(node, purpose=purpose, actor=actor), large_output=LARGE_OUTPUT)


def controller_client(cluster, *, purpose: str, actor=None) -> SshSlurm:
    return slurm_on(cluster.controller, purpose=purpose, actor=actor)


def submit_client(cluster, *, purpose: str, actor=None) -> SshSlurm:
    return slurm_on(cluster.submit_node, purpose=purpose, actor=actor)

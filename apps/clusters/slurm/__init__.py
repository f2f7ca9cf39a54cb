"""The one client module that talks to Slurm (no Django: plain values in, dataclasses out).

    from apps.clusters.slurm import SshSlurm, NodeAction, JobSubmission
    slurm = SshSlurm(run)             # run(argv, *, stdin, timeout) -> Result(exit_status, stdout, stderr)
    slurm.version(); slurm.nodes(); slurm.queue(users=["alice"])
    slurm.update_nodes(["lab-node1"], NodeAction.DRAIN, "gpu health failed")
    slurm.submit(JobSubmission(script="#!/bin/bash\\n...", name="train", gpus=2, work_dir="/home/alice"),
                 as_user="alice")
"""
from . import accounting, hostlist, parsers, validate
from .backend import OutputChunk, SlurmBackend, SshSlurm, sbatch_options
from .errors import (CommandFailed, CommandNotFound, CommandTimeout, InvalidName, NotFound, ParseError,
                     PermissionDenied, SlurmError, TransportError, UnsupportedVersion)
from .records import (Account, AcctJob, Association, ClusterConfig, ControllerPing, Gres, Job, JobAction,
                      JobState, JobSubmission, NodeAction, NodeBaseState, NodeFlag, NodeState, Partition, Qos,
                      Reservation, SinfoRow, SlurmNode, SlurmUser, SubmitResult, Version)

__all__ = [
    "accounting", "hostlist", "parsers", "validate",
    "SlurmBackend", "SshSlurm", "OutputChunk", "sbatch_options",
    "SlurmError", "InvalidName", "TransportError", "CommandTimeout", "CommandFailed", "CommandNotFound",
    "NotFound", "PermissionDenied", "UnsupportedVersion", "ParseError",
    "Account", "AcctJob", "Association", "ClusterConfig", "ControllerPing", "Gres", "Job", "JobAction", "JobState",
    "JobSubmission", "NodeAction", "NodeBaseState", "NodeFlag", "NodeState", "Partition", "Qos", "Reservation",
    "SinfoRow", "SlurmNode", "SlurmUser", "SubmitResult", "Version",
]

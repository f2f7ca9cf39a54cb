"""GPU jobs: agentless collection on chosen nodes (beat does the same for every node without an agent)."""
from __future__ import annotations

from apps.jobs.registry import register
from apps.jobs.runner import JobFailed
from apps.nodes.job_kinds import NodesParams, authorize_nodes, nodes_of


@register("gpus.collect", label="Collect GPU telemetry (agentless)", permission="gpus.push_telemetry",
          params=NodesParams, queue="ssh", authorize=authorize_nodes("use"))
def collect(runner, params, target):
    """Runs nvidia-smi and reads /proc on each node over SSH, and stores the GPU inventory and samples."""
    from .collect import collect as collect_nodes

    nodes = nodes_of(params)
    runner.step(f"Collecting from {len(nodes)} node(s)")
    finished = 0

    def on_result(node, ok, message, data):
        nonlocal finished
        finished += 1
        runner.host_result(node.name, ok, message, **({"result": data} if data else {}))
        runner.progress(finished * 100 // len(nodes))

    counts = collect_nodes(nodes, purpose=f"job {runner.job_id} gpus.collect", actor=runner.job.requester,
                           on_result=on_result)
    if counts["failed"]:
        raise JobFailed(f"Collection failed on {counts['failed']} of {len(nodes)} node(s); see the host results.")
    return counts

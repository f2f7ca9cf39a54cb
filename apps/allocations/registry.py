"""What the allocations app adds to the registries and hooks of the apps below it (called from
AllocationsConfig.ready()): GPU holders (the GPU list's `allocated` filter, GPU and node pages)
and the GPU health hook (a failed GPU is flagged to its holder with a replacement), and the
fleet binding hooks on the allocation signals."""


def register() -> None:
    from apps.gpus import holders
    from apps.gpus.signals import gpu_health_changed

    from . import binding, failures, holding
    from .signals import allocation_changed, allocation_extended

    holders.register("allocations", holding.gpu_holders)
    gpu_health_changed.connect(failures.on_gpu_health_changed, dispatch_uid="allocations.gpu_failed")
    # Fleet bindings (Slurm reservations, SSH keys) run in a worker after the change committed.
    allocation_changed.connect(binding.on_changed, dispatch_uid="allocations.binding.changed")
    allocation_extended.connect(binding.on_extended, dispatch_uid="allocations.binding.extended")

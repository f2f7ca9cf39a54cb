"""Hooks for the apps that bind allocations to the fleet (Slurm reservations, SSH keys, usage),
sent after the change committed:

allocation_changed(sender=Allocation, allocation=Allocation, before=str, after=str)
    every state transition (e.g. after == "active": create the reservation; released/expired:
    remove it).
allocation_extended(sender=Allocation, allocation=Allocation, old_end=datetime)
"""
from django.dispatch import Signal

allocation_changed = Signal()
allocation_extended = Signal()

"""`sushy-emulator` with an adjustable power-change delay for the fake driver.

sushy-tools' fake driver (sushy_tools/emulator/resources/systems/fakedriver.py, 2.2.0) applies a
power change at `int(time.time()) + random.randint(1, 11)`, i.e. 0-11 s after the request (the
int() truncation makes the low end anything in (0, 1]). Nothing in its configuration or
environment changes that range, so this launcher swaps the module's `random` for one whose
randint() uses AIMX_LAB_POWER_DELAY = [low, high] from the emulator config (written by
scripts/lab/redfish.sh; [1, 11] reproduces the stock behaviour, [1, 1] settles within a second).
Everything else is the stock emulator: same arguments, same config keys.
"""
from __future__ import annotations

import random
import sys

from sushy_tools.emulator import main as emulator
from sushy_tools.emulator.resources.systems import fakedriver


class _LabRandom:
    """Stands in for the `random` module inside fakedriver only."""

    def randint(self, a: int, b: int) -> int:
        low, high = emulator.app.config.get("AIMX_LAB_POWER_DELAY") or (a, b)
        return random.randint(int(low), int(high))

    def __getattr__(self, name):
        return getattr(random, name)


fakedriver.random = _LabRandom()

if __name__ == "__main__":
    sys.exit(emulator.main())

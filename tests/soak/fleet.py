"""The soak's three instances and the faults done to them.

Slot ``a`` is never signalled: one process runs from start to end, so its RSS, open files and
threads show growth over the whole run. Slots ``b`` and ``c`` take the faults: SIGKILL and an
immediate restart (sometimes with the state directory wiped), and now and then a clean stop
(SIGTERM, exit code 0 expected) and a start again, a restart without a savepoint. Each slot keeps
its state directory and its instance id across restarts, so a restarted instance reuses its
transactional id and fences its predecessor's producer at once, as a redeployed pod would.
"""

from __future__ import annotations

import random
import shutil
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests_support.instances import InstanceFactory, InstanceProcess

APP_MODULE = "soak_app"
STEADY = "a"
FAULTY = ("b", "c")


@dataclass
class Slot:
    name: str
    state_dir: Path
    instance: InstanceProcess
    generation: int = 0
    kills: int = 0
    wipes: int = 0
    stops: int = 0

    @property
    def faulty(self) -> bool:
        return self.name != STEADY


@dataclass
class Fleet:
    factory: InstanceFactory
    app_id: str
    params: dict[str, Any]
    """The app's settings (topics, ooo, timeout, ...), as tests/apps/soak_app.py reads them."""
    slots: dict[str, Slot] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    """Instances that exited on their own, stops that did not exit 0: each one a missed target."""

    def start_all(self) -> None:
        for name in (STEADY, *FAULTY):
            state_dir = self.factory.tmp_path / f"state-{name}"
            self.slots[name] = Slot(name, state_dir, self._start(name, state_dir, 0))

    def _start(self, name: str, state_dir: Path, generation: int) -> InstanceProcess:
        return self.factory.start(
            APP_MODULE,
            self.app_id,
            name=f"{name}{generation}",
            state_dir=state_dir,
            **{**self.params, "settings": {**self.params.get("settings", {}), "instance_id": name}},
        )

    def _restart(self, slot: Slot) -> None:
        slot.generation += 1
        slot.instance = self._start(slot.name, slot.state_dir, slot.generation)

    def kill_one(self, rng: random.Random, wipe_chance: float) -> str:
        """SIGKILL a faulty instance and start it again at once; returns what was done."""
        slot = self.slots[rng.choice(FAULTY)]
        victim = slot.instance
        victim.kill()
        victim.wait_exit(10)
        slot.kills += 1
        wiped = rng.random() < wipe_chance
        if wiped:
            shutil.rmtree(slot.state_dir, ignore_errors=True)
            slot.wipes += 1
        self._restart(slot)
        how = " with its state directory wiped" if wiped else ""
        return f"kill -9 {victim.name} (pid {victim.pid}), started {slot.instance.name}{how}"

    def stop_and_start(self, rng: random.Random) -> str:
        """SIGTERM a faulty instance, expect a clean exit, and start it again."""
        slot = self.slots[rng.choice(FAULTY)]
        stopped = slot.instance
        stopped.terminate()
        try:
            code = stopped.wait_exit(90)
        except Exception:
            stopped.kill()
            code = stopped.wait_exit(10)
            self.problems.append(f"{stopped.name} did not stop within 90 s of SIGTERM")
        if code != 0:
            self.problems.append(f"{stopped.name} exited {code} after SIGTERM")
        slot.stops += 1
        self._restart(slot)
        return f"stop {stopped.name} (exit {code}), started {slot.instance.name}"

    def check_alive(self) -> list[str]:
        """Instances that exited without being told: noted as problems, and started again so
        the soak goes on (the steady one too, though its growth figures are then void)."""
        events = []
        for slot in self.slots.values():
            instance = slot.instance
            if instance.alive():
                continue
            code = instance.process.returncode
            tail = instance.log()[-1500:]
            self.problems.append(f"{instance.name} exited on its own ({code}): {tail[-300:]!r}")
            self._restart(slot)
            events.append(
                f"{instance.name} exited on its own ({code}), started {slot.instance.name}"
            )
        return events

    def stop_all(self) -> None:
        """SIGTERM every instance at the end; each must exit 0."""
        for slot in self.slots.values():
            slot.instance.terminate()
        for slot in self.slots.values():
            instance = slot.instance
            try:
                code = instance.wait_exit(90)
            except Exception:
                instance.signal(signal.SIGKILL)
                code = instance.wait_exit(10)
                self.problems.append(f"{instance.name} did not stop within 90 s at the end")
            if code != 0:
                self.problems.append(f"{instance.name} exited {code} when stopped at the end")

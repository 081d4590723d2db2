"""What the reliability tests tried and found, summed over the session.

Each test adds to TALLY; tests/reliability/conftest.py prints one line at the
end of the run (pytest_terminal_summary, so it shows without -s).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class Tally:
    inputs_tried: int = 0
    hostile_classes: int = 0
    faults_injected: int = 0
    messages_checked: int = 0
    messages_lost: int = 0
    tests: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(
        self,
        *,
        inputs: int = 0,
        hostile_classes: int = 0,
        faults: int = 0,
        checked: int = 0,
        lost: int = 0,
    ) -> None:
        with self._lock:
            self.inputs_tried += inputs
            self.hostile_classes += hostile_classes
            self.faults_injected += faults
            self.messages_checked += checked
            self.messages_lost += lost
            self.tests += 1

    def line(self) -> str:
        return (
            f"reliability: {self.inputs_tried} inputs tried ({self.hostile_classes} hostile "
            f"JSON classes), {self.faults_injected} faults "
            f"injected, {self.messages_checked} message deliveries checked, "
            f"{self.messages_lost} messages lost"
        )


TALLY = Tally()

"""A cross-check in a fresh interpreter, for the adapter tests.

Keras picks its backend once per process, and TensorFlow has a heap-corrupting kernel (a finding): a run
in its own interpreter keeps the test process clean, and a crash fails one test instead of the session.
Each result comes back with whether the padding-zeros model (support.findings) explains it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from convt_oracle.cases.model import Case

TESTS = Path(__file__).resolve().parents[1]

RUNNER = """
import json, sys
import convt_oracle
from convt_oracle.adapters import registry
from convt_oracle.cases.model import Case
from convt_oracle.tolerance import Tolerance
from support.findings import padding_zeros_explain

target, suite, dtypes, grad, accumulation = json.loads(sys.stdin.read())
cases = suite if isinstance(suite, str) else [Case.from_dict(data) for data in suite]
tolerance = Tolerance(accumulation=accumulation) if accumulation else None
report = convt_oracle.crosscheck(target, suite=cases, dtypes=dtypes, grad=grad, tolerance=tolerance)
adapter = registry.load(target)
print(json.dumps([
    {"case": r.case.to_dict(), "check": r.check, "outcome": r.outcome, "message": r.message[:2000],
     "padding_zeros": not r.ok and padding_zeros_explain(r, adapter, tolerance)}
    for r in report.results
]))
"""


@dataclass(frozen=True)
class Row:
    """One result: the case, "forward" or "vjp", the outcome, its message, and whether the padding-zeros
    model of the inf-weight finding explains it (support.findings.padding_zeros_explain)."""

    case: Case
    check: str
    outcome: str
    message: str
    padding_zeros: bool

    def __str__(self) -> str:
        return f"{self.outcome} {self.case.id}:{self.check}\n{self.message}"


def crosscheck(target: str, suite, dtypes, *, grad: bool = False, accumulation: dict | None = None,
               timeout: float = 900) -> list[Row]:
    """convt_oracle.crosscheck(target, ...) in a fresh interpreter (no KERAS_BACKEND inherited);
    `suite` a suite name or a list of Cases; `accumulation` a Tolerance accumulation policy."""
    payload = json.dumps([target, suite if isinstance(suite, str) else [c.to_dict() for c in suite], list(dtypes),
                          grad, accumulation])
    environment = {key: value for key, value in os.environ.items() if key != "KERAS_BACKEND"}
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), environment.get("PYTHONPATH")]))
    environment.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    completed = subprocess.run(
        [sys.executable, "-c", RUNNER], input=payload, capture_output=True, text=True, timeout=timeout,
        env=environment,
    )
    assert completed.returncode == 0, f"the {target} run ended with {completed.returncode}:\n{completed.stderr[-3000:]}"
    rows = json.loads(completed.stdout.strip().splitlines()[-1])
    return [
        Row(Case.from_dict(row["case"]), row["check"], row["outcome"], row["message"], row["padding_zeros"])
        for row in rows
    ]

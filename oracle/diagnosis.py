"""What kind of wrong a discrepancy is: hypotheses, each an exact transformation of the golden's computation.

A hypothesis is a small function registered by name (`@hypothesis(name)`); given a discrepancy's context
(the case, its arrays, the target's actual result, the golden's expectation) it yields candidate
predictions: an expectation of what a target making that mistake returns, with its derived bound. The
hypothesis explains the result when one candidate fits every element (convt_oracle.compare.compare passes
against it); a hypothesis that fits only some elements explains nothing. `diagnose` returns the first
hypothesis that fits, in the registry's order (the most specific first), with the others that fit too;
`unexplained` when none does: a diagnosis is never invented.
"""

from __future__ import annotations

from dataclasses import dataclass, field

UNEXPLAINED = "unexplained"


@dataclass(frozen=True)
class Diagnosis:
    """The hypothesis that explains a discrepancy: its name, its parameters and one sentence for people;
    `also` names other hypotheses that fit as well (an ambiguous case)."""

    name: str
    params: dict = field(default_factory=dict)
    sentence: str = ""
    also: tuple[str, ...] = ()

    @property
    def explained(self) -> bool:
        return self.name != UNEXPLAINED

    def to_dict(self) -> dict:
        return {"name": self.name, "params": dict(self.params), "sentence": self.sentence, "also": list(self.also)}

    @classmethod
    def from_dict(cls, data: dict) -> Diagnosis:
        return cls(name=data["name"], params=dict(data.get("params", {})), sentence=data.get("sentence", ""),
                   also=tuple(data.get("also", ())))

    def __str__(self) -> str:
        return self.sentence or self.name

"""Shards of a suite: `convt-oracle run --shard K/N` runs the K-th of N disjoint parts of the cases, so that N
machines (or CI jobs) share one run; `convt-oracle merge` (convt_oracle.harness.merge) puts the parts back
together.

A case belongs to shard 1 + (h mod N), h the first 8 bytes of the SHA-256 of its id (the id in its dtype,
`2d-...-f32-...`): the same on every machine, Python version and process (Python's own hash() of a string
changes from process to process), and a case keeps its shard when the suite around it grows. The shards
are about equal in size, not exactly: the default suite's 1,573 float32 cases in 3 shards are 547, 509 and 517.
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple


class Shard(NamedTuple):
    """Shard `index` of `count` (1 <= index <= count)."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str, *, where: str = "--shard") -> Shard:
        """The shard "K/N" names; ValueError naming `where`, the text and the rule."""
        rule = "expected K/N, shard K of N, with 1 <= K <= N (e.g. 2/3)"
        index, slash, count = str(text).strip().partition("/")
        try:
            shard = cls(int(index), int(count)) if slash else None
        except ValueError:
            shard = None
        if shard is None or not 1 <= shard.index <= shard.count:
            raise ValueError(f"{where}: got {text!r}; {rule}")
        return shard

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def holds(self, case_id: str) -> bool:
        """Whether the case with this id is in this shard."""
        return shard_of(case_id, self.count) == self.index

    def select(self, cases) -> list:
        """The cases (each with an `id`) of this shard, in their order."""
        return [case for case in cases if self.holds(case.id)]

    def to_dict(self) -> dict:
        return {"index": self.index, "count": self.count}


def shard_of(case_id: str, count: int) -> int:
    """The shard (1 to count) a case id belongs to."""
    digest = hashlib.sha256(case_id.encode("utf-8")).digest()
    return 1 + int.from_bytes(digest[:8], "big") % count


__all__ = ["Shard", "shard_of"]

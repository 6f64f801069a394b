"""How the benchmarks measure memory."""

from __future__ import annotations

import tracemalloc

from convt_oracle import phase_route


def peak_extra_memory(fn) -> int:
    """Peak bytes traced by tracemalloc during one call of fn, above what was traced just before it
    (numpy reports its buffers to tracemalloc; OpenBLAS's own work space is not seen). The buffer the
    golden keeps between calls is freed first, so that the call allocates it and it counts."""
    phase_route.release_scratch()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        fn()
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()

"""Benchmark the float64 golden `convt_oracle.conv_transpose` against torch's conv_transpose{1,2,3}d.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_golden.py [--repeat N] [--settle S] [--json PATH]
    .venv/bin/python benchmarks/bench_golden.py [--repeat N] [--settle S] [--json PATH]    (default threads)

`make bench` runs both: one thread, the setting of issue 2's targets, and the default (one per core),
the setting a user's run has.

Per case: golden and torch wall time (median and min of N calls, after warm-up), golden GFLOP/s (nominal
FLOPs = 2 * N * Cin * Cout/groups * prod(kernel) * prod(input spatial)), also as % of numpy's float64 GEMM
rate (the best of square GEMMs timed in the same rounds as the case, so that both see the machine in the
same state), the golden/torch ratio of medians, and the golden's peak extra memory in one call
(tracemalloc, which numpy reports its buffers to) against (kernel taps + 1) x output size. The calls of
golden, torch and the GEMM take turns in ROUNDS blocks: on a shared machine whose speed drifts, each sees
the same conditions; each block starts after a pause, so that no library's idle threads still spin in it.
Each case first checks that golden and torch agree; if not, it exits 1 without benchmarking. At the end it
says which of the targets are met (golden <= 1.0x torch on every case, >= 50 % of GEMM on the largest, memory
within budget on every case; the GEMM share only with one thread, where both run single-threaded) and exits 2
if one is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
import convt_oracle  # noqa: E402
from benchmarks.machine import cpu_name  # noqa: E402
from benchmarks.memory import peak_extra_memory  # noqa: E402

AGREEMENT_RTOL = 1e-10  # max |golden - torch| allowed, relative to max(1, max |torch|); both are float64
ROUNDS = 10  # blocks per timed function, taking turns
SETTLE_S = 0.2  # default pause before each block (--settle): BLAS and OpenMP threads stop spinning within about 0.1 s
CEILING_SIZE = 1024  # n of the n x n GEMMs timed with each case


@dataclass(frozen=True)
class Case:
    batch: int
    cin: int
    cout: int
    spatial: tuple[int, ...]
    kernel: int
    stride: int
    padding: int
    dilation: int = 1
    groups: int = 1

    @property
    def name(self) -> str:
        extra = (f" d{self.dilation}" if self.dilation > 1 else "") + (f" g{self.groups}" if self.groups > 1 else "")
        size = "x".join(map(str, self.spatial))
        return (f"{len(self.spatial)}d N{self.batch} {self.cin}->{self.cout} {size} "
                f"k{self.kernel} s{self.stride} p{self.padding}{extra}")

    @property
    def taps(self) -> int:
        return self.kernel ** len(self.spatial)

    @property
    def flops(self) -> int:
        return 2 * self.batch * self.cin * (self.cout // self.groups) * self.taps * int(np.prod(self.spatial))

    def kwargs(self) -> dict:
        return dict(stride=self.stride, padding=self.padding, dilation=self.dilation, groups=self.groups)


CASES = [
    Case(8, 64, 64, (32, 32), 3, 2, 1),
    Case(4, 128, 64, (16, 16), 4, 2, 1),
    Case(2, 16, 16, (64, 64), 5, 1, 2),
    Case(4, 64, 64, (24, 24), 3, 2, 1, groups=4),
    Case(4, 32, 32, (20, 20), 3, 1, 2, dilation=2),
    Case(8, 64, 64, (256,), 5, 2, 2),
    Case(2, 16, 16, (12, 12, 12), 3, 2, 1),
]
TORCH_OPS = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


@dataclass
class Result:
    case: str
    shapes: dict
    flops: int
    max_abs_diff: float
    golden_median_s: float
    golden_min_s: float
    torch_median_s: float
    torch_min_s: float
    golden_gflops: float
    gemm_gflops: float  # the ceiling, timed in the same rounds
    pct_of_gemm: float
    ratio_golden_torch: float  # of medians
    peak_extra_bytes: int
    output_bytes: int
    peak_x_output: float
    budget_x_output: int
    within_budget: bool


def time_calls(fns, repeat: int, rounds: int = ROUNDS, settle: float = SETTLE_S) -> list[tuple[float, float]]:
    """(median, min) seconds of `repeat` calls of each fn, in `rounds` blocks per fn that take turns (fair under
    background load); each block starts after a pause of `settle` seconds and an untimed call: one
    library's threads still spinning after its calls slow the other's (`--settle 0` shows it)."""
    times = [[] for _ in fns]
    for block in range(rounds):
        for fn, fn_times in zip(fns, times):
            time.sleep(settle)
            fn()
            for _ in range(len(range(block, repeat, rounds))):
                start = time.perf_counter()
                fn()
                fn_times.append(time.perf_counter() - start)
    return [(statistics.median(t), min(t)) for t in times]


def square_gemm(n: int):
    """A float64 n x n GEMM of numpy and its FLOPs: the ceiling the golden's matmuls can reach."""
    a, b = np.random.default_rng(1).standard_normal((2, n, n))
    return (lambda: a @ b), 2 * n**3


def gemm_gflops(n: int = 2048, tries: int = 3) -> float:
    """Best float64 GEMM rate of numpy on n x n matrices."""
    gemm, flops = square_gemm(n)
    [(_, best)] = time_calls([gemm], tries, rounds=1)
    return flops / best / 1e9


def make_inputs(case: Case, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    x = rng.standard_normal((case.batch, case.cin, *case.spatial))
    w = rng.standard_normal((case.cin, case.cout // case.groups, *(case.kernel,) * len(case.spatial)))
    return x, w


def run_case(case: Case, repeat: int, rng: np.random.Generator, settle: float = SETTLE_S) -> Result:
    x, w = make_inputs(case, rng)
    xt, wt = torch.from_numpy(x), torch.from_numpy(w)
    torch_op = TORCH_OPS[len(case.spatial)]

    golden = partial(convt_oracle.conv_transpose, x, w, **case.kwargs())
    reference = partial(torch_op, xt, wt, **case.kwargs())

    got, want = golden(), reference().numpy()
    diff = float(np.max(np.abs(got - want))) if got.shape == want.shape else float("inf")
    if not diff <= AGREEMENT_RTOL * max(1.0, float(np.max(np.abs(want)))):
        raise SystemExit(f"{case.name}: golden {got.shape} and torch {want.shape} disagree, "
                         f"max abs diff {diff:.3e}; not benchmarking")

    gemm, gemm_flops = square_gemm(CEILING_SIZE)
    (g_med, g_min), (t_med, t_min), (_, gemm_min) = time_calls([golden, reference, gemm], repeat, settle=settle)
    ceiling = gemm_flops / gemm_min / 1e9
    peak = peak_extra_memory(golden)
    gflops = case.flops / g_med / 1e9
    return Result(
        case=case.name, shapes={"x": x.shape, "w": w.shape, "out": got.shape}, flops=case.flops, max_abs_diff=diff,
        golden_median_s=g_med, golden_min_s=g_min, torch_median_s=t_med, torch_min_s=t_min,
        golden_gflops=gflops, gemm_gflops=ceiling, pct_of_gemm=100 * gflops / ceiling, ratio_golden_torch=g_med / t_med,
        peak_extra_bytes=peak, output_bytes=got.nbytes, peak_x_output=peak / got.nbytes,
        budget_x_output=case.taps + 1, within_budget=peak <= (case.taps + 1) * got.nbytes,
    )


def machine_info() -> dict:
    info = {
        "cpu": cpu_name(), "cores": os.cpu_count(), "python": platform.python_version(),
        "numpy": np.__version__, "torch": torch.__version__,
        "env": {v: os.environ.get(v, "(unset)") for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")},
        "torch_threads": torch.get_num_threads(), "torch_interop_threads": torch.get_num_interop_threads(),
    }
    try:
        from threadpoolctl import threadpool_info
        info["blas_threads"] = {p["internal_api"]: p["num_threads"] for p in threadpool_info()}
    except ImportError:
        info["blas_threads"] = "threadpoolctl not installed; see env"
    return info


def print_case(r: Result) -> None:
    print(f"\n{r.case}   x{r.shapes['x']} w{r.shapes['w']} -> {r.shapes['out']}   "
          f"max |golden - torch| = {r.max_abs_diff:.1e}")
    print(f"  golden    median {r.golden_median_s * 1e3:8.2f} ms   min {r.golden_min_s * 1e3:8.2f} ms   "
          f"{r.golden_gflops:6.1f} GFLOP/s ({r.pct_of_gemm:.0f}% of GEMM's {r.gemm_gflops:.1f})")
    print(f"  torch     median {r.torch_median_s * 1e3:8.2f} ms   min {r.torch_min_s * 1e3:8.2f} ms   "
          f"golden/torch {r.ratio_golden_torch:.2f}x")
    print(f"  memory    peak extra {r.peak_extra_bytes / 2**20:.2f} MiB = {r.peak_x_output:.2f}x output "
          f"({r.output_bytes / 2**20:.2f} MiB); budget {r.budget_x_output}x: {'within' if r.within_budget else 'OVER'}")


def markdown_table(results: list[Result], info: dict) -> str:
    lines = [
        f"float64, {info['cpu']}, OMP_NUM_THREADS={info['env']['OMP_NUM_THREADS']}, torch threads "
        f"{info['torch_threads']}; numpy GEMM {info['gemm_gflops_float64']:.1f} GFLOP/s at the start (2048^3), "
        f"each case's ceiling timed with it ({CEILING_SIZE}^3); ms as median (min)",
        "",
        "| case | golden ms | torch ms | golden/torch | golden GFLOP/s | GEMM GFLOP/s | % of GEMM | peak mem x out | budget x out |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.case} | {r.golden_median_s * 1e3:.2f} ({r.golden_min_s * 1e3:.2f}) "
            f"| {r.torch_median_s * 1e3:.2f} ({r.torch_min_s * 1e3:.2f}) | {r.ratio_golden_torch:.2f} "
            f"| {r.golden_gflops:.1f} | {r.gemm_gflops:.1f} | {r.pct_of_gemm:.0f}% | {r.peak_x_output:.2f} "
            f"| {r.budget_x_output}{'' if r.within_budget else ' OVER'} |"
        )
    return "\n".join(lines)


def check_targets(results: list[Result], threads: int) -> list[tuple[str, bool]]:
    """The targets, each as (line, met or not a target here): golden <= 1.0x torch's median time on every case, >= 50 % of the
    GEMM ceiling on the largest case (by FLOPs; with one thread: the golden's copies and sums run on one
    core whatever the thread count, so with more it is shown, not a target), peak memory within
    (taps + 1) x output on every case."""
    largest = max(results, key=lambda r: r.flops)
    slowest = max(results, key=lambda r: r.ratio_golden_torch)
    over = [r.case for r in results if not r.within_budget]
    checks = [
        (slowest.ratio_golden_torch <= 1.0,
         f"golden/torch <= 1.0 on every case: worst {slowest.ratio_golden_torch:.2f} ({slowest.case})"),
        (largest.pct_of_gemm >= 50 if threads == 1 else None,
         f">= 50 % of GEMM on the largest case ({largest.case}): {largest.pct_of_gemm:.0f} % by the median, "
         f"{100 * largest.flops / largest.golden_min_s / 1e9 / largest.gemm_gflops:.0f} % by the min"
         + (f" (a target with one thread; shown only, with {threads})" if threads > 1 else "")),
        (not over, "peak memory within (taps + 1) x output on every case" + (f": OVER on {over}" if over else "")),
    ]
    labels = {True: "MET   ", False: "MISSED", None: "SHOWN "}  # None: not a target in this setting
    return [(f"{labels[met]} {text}", met is not False) for met, text in checks]


def _at_least(lowest, kind):
    """An argparse type: a number of `kind` no smaller than `lowest`, else an error naming the rule."""
    def parse(text: str):
        value = kind(text)
        if value < lowest:
            raise argparse.ArgumentTypeError(f"got {text}; must be at least {lowest}")
        return value
    return parse


@torch.inference_mode()
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=_at_least(1, int), default=50,
                        help="timed calls per case and library (default 50)")
    parser.add_argument("--settle", type=_at_least(0, float), default=SETTLE_S, metavar="S",
                        help=f"pause in seconds before each block of calls (default {SETTLE_S})")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also save machine info and results as JSON")
    args = parser.parse_args(argv)

    info = machine_info()
    print(f"CPU: {info['cpu']} ({info['cores']} logical cores); Python {info['python']}, "
          f"numpy {info['numpy']}, torch {info['torch']}")
    print(f"threads: {', '.join(f'{k}={v}' for k, v in info['env'].items())}; "
          f"torch.get_num_threads()={info['torch_threads']}; numpy BLAS: {info['blas_threads']}")
    info["gemm_gflops_float64"] = ceiling = gemm_gflops()
    print(f"float64 GEMM at the start (numpy 2048^3 matmul, best of 3): {ceiling:.1f} GFLOP/s; each case "
          f"is measured against {CEILING_SIZE}^3 GEMMs timed in its own rounds")

    rng = np.random.default_rng(0)
    started, results = time.perf_counter(), []
    for case in CASES:
        results.append(run_case(case, args.repeat, rng, args.settle))
        print_case(results[-1])
    print(f"\n({len(CASES)} cases in {time.perf_counter() - started:.1f} s, {args.repeat} repeats each)\n")
    print(markdown_table(results, info))
    targets = check_targets(results, info["torch_threads"])
    print()
    for line, _ in targets:
        print(line)
    info["targets_met"] = all(met for _, met in targets)

    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"machine": info, "repeat": args.repeat, "settle_s": args.settle, "results": [asdict(r) for r in results]}
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"\nsaved {args.json}")
    return 0 if info["targets_met"] else 2


if __name__ == "__main__":
    sys.exit(main())

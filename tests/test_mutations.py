"""Detection power: the `default` suite catches every wrong implementation in support/targets.py, and
raises no alarm on the three correct ones (the lax route, torch rounded to the dtype,
a plain loop) in float64, float32, float16 and bfloat16.

The seed of the default suite's generated cases is SEED (environment variable CONVT_MUTATION_SEED, 0 by
default); every message names it, so a run can be repeated. A mutant is run on the default suite's cases
in order, in the dtype(s) where it is wrong, until the first discrepancy: the test prints which case
caught it after how many cases (see them with `pytest -rP`). A mutant that gets through is a gap in the
default suite, not in the mutant.
"""

import os

import pytest

from convt_oracle.cases import suites
from convt_oracle.harness.crosscheck import check_case, crosscheck
from support import targets as T

SEED = int(os.environ.get("CONVT_MUTATION_SEED", "0"))
DTYPES = ("float64", "float32", "float16", "bfloat16")


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """torch with 2 threads on this 2-core machine (next to a second xdist worker) is ~10x slower."""
    try:
        import torch
    except ImportError:  # only torch_reference needs it; that test skips itself
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def default_suite():
    return suites.get("default", seed=SEED)


def test_there_are_enough_mutants_and_each_documents_its_bug():
    assert len(T.MUTANTS) >= 15
    for name in T.MUTANTS:
        function = getattr(T, name)
        assert function.__doc__ and function.__doc__.startswith("WRONG"), name
        assert set(T.MUTANT_DTYPES[name]) <= set(DTYPES)
    for name in T.CORRECT:
        assert getattr(T, name).__doc__.startswith("CORRECT")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("target", T.CORRECT)
def test_correct_target_raises_no_alarm_on_default(target, dtype, record_property):
    record_property("seed", SEED)
    if target == "torch_reference":
        pytest.importorskip("torch")
    report = crosscheck(getattr(T, target), suite="default", dtypes=(dtype,), seed=SEED)
    print(f"seed {SEED}: {target} on default in {dtype}: {len(report.results)} cases, {report.counts()}")
    assert len(report.results) >= 1500
    assert report.ok, f"seed {SEED}: {target} raised alarms on the default suite in {dtype}\n{report.summary()}"


def _runs():
    """(mutant, dtype) pairs: float32 where the mutant is wrong in every dtype, else each dtype it is wrong in."""
    for name in T.MUTANTS:
        dtypes = T.MUTANT_DTYPES[name]
        for dtype in ("float32",) if "float32" in dtypes and len(dtypes) == len(DTYPES) else dtypes:
            yield name, dtype


@pytest.mark.parametrize("mutant, dtype", list(_runs()))
def test_mutant_is_caught_by_default(mutant, dtype, default_suite, record_property):
    record_property("seed", SEED)
    function = getattr(T, mutant)
    cases = suites.expand(default_suite, (dtype,))
    for count, case in enumerate(cases, 1):
        result = check_case(function, case, mutant)
        if not result.ok:
            record_property("caught_by", case.id)
            print(f"seed {SEED}: {mutant} ({dtype}) caught after {count} of {len(cases)} cases by {case.id} "
                  f"{case.name or ''}: {result.outcome}")
            return
    pytest.fail(f"seed {SEED}: mutant {mutant} got through all {len(cases)} default cases in {dtype}: a gap in the suite")

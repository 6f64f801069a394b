"""The golden and crosscheck under hostile arguments: huge strides and dilations, integers past the platform's,
results too large for the machine, and whatever Hypothesis throws at them. Each call returns, or raises a
ValueError or TypeError with a message, within a time and memory budget; nothing is left to the kernel's
out-of-memory killer.
"""

from __future__ import annotations

import math
import time
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import convt_oracle
from convt_oracle import limits
from convt_oracle.cases.model import make_case
from support.crashy_targets import correct as target

DERANDOMIZED = settings(derandomize=True, max_examples=400, deadline=None, database=None,
                        suppress_health_check=list(HealthCheck))


@pytest.fixture
def memory_limit():
    """A 256 MiB limit for the golden during the test, the default again afterwards."""
    limits.set_memory_limit(256 * 2**20)
    yield 256 * 2**20
    limits.set_memory_limit(None)


# --- the cost follows the sizes, not the product of the strides ------------------------------------------------


def peak_bytes(call):
    """(call's result, the peak of the memory numpy allocated during it: tracemalloc)."""
    tracemalloc.start()
    try:
        return call(), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("keyword", ["stride", "dilation"])
def test_a_stride_or_dilation_of_a_million_costs_what_its_output_costs(keyword):
    """Visiting every stride phase took 834 MB for this call (13 s); the phases its taps reach take a few
    outputs' worth. (Its time is in the README: the golden API's cost paragraph.)"""
    x, w = np.arange(1.0, 9.0).reshape(1, 2, 4), np.arange(1.0, 19.0).reshape(2, 3, 3)
    y, peak = peak_bytes(lambda: convt_oracle.conv_transpose(x, w, **{keyword: 10**6}))
    assert peak <= 8 * y.nbytes, (peak, y.nbytes)
    # the definition: y[co, i*s + t*d] for stride s (d = 1), y[co, i + t*d] for dilation d (s = 1)
    expected = np.zeros_like(y)
    for i in range(4):
        for t in range(3):
            position = i * 10**6 + t if keyword == "stride" else i + t * 10**6
            expected[0, :, position] += x[0, :, i] @ w[:, :, t]
    assert np.array_equal(y, expected)


def test_a_large_stride_in_two_axes_visits_only_the_phases_its_taps_reach():
    """10**4 x 10**4 stride phases, 4 taps: the phase route visits the 4 phases the taps reach, not 10**8.
    The crop keeps the first 4 x 4 of the full result: x[0, 0] times the kernel, then zeros."""
    x, w = np.ones((1, 1, 2, 2)), np.arange(1.0, 5.0).reshape(1, 1, 2, 2)
    y, peak = peak_bytes(
        lambda: convt_oracle.conv_transpose(x, w, stride=10**4, padding=((0, 10**4 - 2), (0, 10**4 - 2)))
    )
    assert peak < 2**20, peak  # a phase plan per visited phase: 10**8 of them would not fit
    assert y[0, 0].tolist() == [[1.0, 2.0, 0.0, 0.0], [3.0, 4.0, 0.0, 0.0], [0.0] * 4, [0.0] * 4]


# --- results too large are refused before allocating -------------------------------------------------------------


def test_a_result_past_the_memory_limit_is_a_value_error_naming_shape_bytes_and_limit(memory_limit):
    with pytest.raises(ValueError) as caught:
        convt_oracle.conv_transpose(np.ones((1, 2, 4)), np.ones((2, 3, 3)), stride=10**9)
    message = str(caught.value)
    assert "(1, 3, 3000000003)" in message and "72000000072 bytes" in message
    assert "the golden's limit is 256.0 MiB" in message


def test_the_limit_can_be_set_in_the_process_and_in_the_environment(memory_limit, monkeypatch):
    x, w = np.ones((1, 1, 4)), np.ones((1, 1, 3))
    with pytest.raises(ValueError, match="limit is 256.0 MiB, set by convt_oracle.limits.set_memory_limit"):
        convt_oracle.conv_transpose(x, w, stride=10**7)  # 3e7 elements: 240 MB, with scratch about 1 GB
    assert convt_oracle.conv_transpose(x, w, stride=10**5).shape == (1, 1, 300003)
    limits.set_memory_limit(None)
    monkeypatch.setenv(limits.ENVIRONMENT_VARIABLE, "1M")
    with pytest.raises(ValueError, match="limit is 1.0 MiB, CONVT_ORACLE_MEMORY_LIMIT=1M"):
        convt_oracle.conv_transpose(x, w, stride=10**5)
    monkeypatch.setenv(limits.ENVIRONMENT_VARIABLE, "lots")
    with pytest.raises(ValueError, match="CONVT_ORACLE_MEMORY_LIMIT: got 'lots'"):
        convt_oracle.conv_transpose(x, w)
    with pytest.raises(ValueError, match="nbytes: got -1"):
        limits.set_memory_limit(-1)


def test_the_adjoint_and_the_vjp_are_refused_too(memory_limit):
    w = np.ones((1, 1, 3))
    x = np.ones((1, 1, 10**6))
    with pytest.raises(ValueError, match="conv_transpose_vjp: the result of shape"):
        convt_oracle.conv_transpose_vjp(x, np.ones((1, 1, 40)), np.ones((1, 1, 10**6 + 39)))
    with pytest.raises(ValueError, match="conv: the result of shape"):
        convt_oracle.conv(np.ones((1, 30, 10**6 + 2)), np.ones((1, 30, 3)))
    assert convt_oracle.conv(np.ones((1, 1, 10**3 + 2)), w).shape == (1, 1, 1000)
    del x


@pytest.mark.parametrize("keyword, value", [("stride", 2**70), ("dilation", 2**64), ("padding", 2**63),
                                            ("output_padding", 2**80), ("groups", 2**65)])
def test_integers_past_the_platform_are_a_value_error_naming_the_argument(keyword, value):
    with pytest.raises(ValueError, match=f"{keyword}: got {value}; .*fit this platform's index type"):
        convt_oracle.conv_transpose(np.ones((1, 2, 4)), np.ones((2, 3, 3)), **{keyword: value})


# --- crosscheck's own arguments ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "arguments, error, words",
    [
        (dict(max_cases=-1), ValueError, "max_cases: got -1; expected at least 1"),
        (dict(max_cases=0), ValueError, "max_cases: got 0"),
        (dict(max_cases=2.5), TypeError, "max_cases: got 2.5"),
        (dict(seed="a"), TypeError, "seed: got 'a'; expected an int"),
        (dict(seed=True), TypeError, "seed: got True"),
        (dict(suite=[]), ValueError, "suite: no case given: there would be nothing to check"),
        (dict(suite=[1, 2]), TypeError, "suite: item 0 is int, not a convt_oracle.cases.model.Case"),
        (dict(suite=7), TypeError, "suite: got int; expected a suite name or a sequence of Cases"),
        (dict(suite="nope"), ValueError, "suite: unknown 'nope'; known suites"),
        (dict(dtypes=()), ValueError, "dtypes: none given"),
        (dict(dtypes=("float8",)), ValueError, "dtypes: unknown 'float8'; known dtypes"),
        (dict(dtypes=5), TypeError, "dtypes: got 5"),
        (dict(suite=[make_case(input_size=3, kernel_size=2, dtype="float16")], dtypes=("float32",)), ValueError,
         "has no case in dtypes float32"),
        (dict(timeout=0), ValueError, "timeout: got 0; expected a positive number of seconds"),
        (dict(timeout=float("nan")), ValueError, "timeout: got nan"),
        (dict(grad="yes"), TypeError, "grad: got 'yes'; expected True or False"),
        (dict(isolate=1), TypeError, "isolate: got 1"),
        (dict(tolerance=1e-5), TypeError, "tolerance: got float; expected a convt_oracle.Tolerance"),
        (dict(progress="print"), TypeError, "progress: got str; expected a callable"),
    ],
)
def test_every_argument_of_crosscheck_is_checked(arguments, error, words):
    with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        convt_oracle.crosscheck(target, **{"suite": "article", **arguments})


def test_a_report_with_nothing_compared_says_so_and_is_not_ok_in_words():
    def never(x, w, bias=None, **params):
        raise convt_oracle.Unsupported("not this one")

    report = convt_oracle.crosscheck(never, suite="article")
    assert report.ok and report.compared == 0
    assert report.verdict() == "nothing was compared: every result is unsupported or refused"
    assert "OK" not in report.summary()


def test_assert_close_checks_its_arguments():
    x, w = np.ones((1, 1, 3), np.float32), np.ones((1, 1, 2), np.float32)
    with pytest.raises(TypeError, match="tolerance: got float"):
        convt_oracle.assert_conv_transpose_close(np.ones((1, 1, 4), np.float32), x, w, tolerance=0.1)
    with pytest.raises(ValueError, match="stride: got -1"):
        convt_oracle.assert_conv_transpose_close(np.ones((1, 1, 4), np.float32), x, w, stride=-1)


# --- fuzz: anything in, a result or a clear error out ---------------------------------------------------------------

INTS = st.one_of(st.integers(-3, 6), st.integers(-(2**80), 2**80), st.sampled_from([0, 1, 2**31, 2**62, 2**63, 10**9]))
PER_AXIS = st.one_of(INTS, st.lists(INTS, min_size=0, max_size=4), st.tuples(INTS, INTS))
ODD = st.one_of(st.none(), st.text(max_size=3), st.floats(allow_nan=True), st.booleans(), st.just(np.float64(2.0)),
                st.lists(st.lists(INTS, max_size=3), max_size=3))
ARGUMENT = st.one_of(PER_AXIS, ODD)


@st.composite
def arrays(draw):
    rank = draw(st.integers(0, 5))
    shape = tuple(draw(st.lists(st.integers(0, 4), min_size=rank, max_size=rank)))
    dtype = draw(st.sampled_from(["float64", "float32", "float16", "int64", "int8", "bool", "complex128", "object"]))
    if dtype == "object":
        return np.empty(shape, object)
    return np.ones(shape, dtype)


def within_budget(call):
    """Run `call`; it must return or raise ValueError/TypeError with a message, in under 5 s, allocating
    under 512 MiB at its peak (tracemalloc: numpy's buffers included)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    start = time.perf_counter()
    try:
        call()
    except (ValueError, TypeError) as error:
        assert str(error).strip(), f"{type(error).__name__} without a message"
    finally:
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    # memory first: it does not depend on the machine's load (the control below allocates past it)
    assert peak < 512 * 2**20, f"peak memory {peak / 2**20:.0f} MiB"
    assert seconds < 5.0, f"{seconds:.1f} s"


@DERANDOMIZED
@given(x=arrays(), w=arrays(), bias=st.one_of(st.none(), arrays()), stride=ARGUMENT, padding=ARGUMENT,
       output_padding=ARGUMENT, dilation=ARGUMENT, groups=st.one_of(INTS, ODD))
def test_the_golden_returns_or_says_why_for_any_arguments(memory_limit, x, w, bias, stride, padding, output_padding,
                                                         dilation, groups):
    """The golden's own limit (256 MiB here) below the budget: what it accepts fits the budget."""
    params = dict(stride=stride, padding=padding, output_padding=output_padding, dilation=dilation, groups=groups)
    within_budget(lambda: convt_oracle.conv_transpose(x, w, bias, **params))
    within_budget(lambda: convt_oracle.output_shape(x.shape, w.shape, None if bias is None else bias.shape, **params))
    within_budget(lambda: convt_oracle.conv(x, w, **params))


@DERANDOMIZED
@given(suite=st.one_of(st.sampled_from(["article", "nope", ""]), st.lists(st.integers(), max_size=2), st.just([])),
       dtypes=st.one_of(st.lists(st.sampled_from(["float32", "float16", "x"]), max_size=2), st.text(max_size=8)),
       seed=st.one_of(INTS, ODD), max_cases=st.one_of(st.none(), INTS, ODD), timeout=st.one_of(INTS, ODD))
def test_crosscheck_returns_or_says_why_for_any_arguments(suite, dtypes, seed, max_cases, timeout):
    within_budget(lambda: convt_oracle.crosscheck(target, suite=suite, dtypes=dtypes, seed=seed, max_cases=max_cases,
                                                  timeout=timeout))


def test_the_fuzz_budget_can_fail():
    """The control: a call that allocates past the budget does fail it."""
    with pytest.raises(AssertionError, match="peak memory"):
        within_budget(lambda: np.ones(int(600 * 2**20 / 8)).sum() + math.pi)

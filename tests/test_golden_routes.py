"""The golden's fast route (`convt_oracle.conv_transpose`, the stride-phase route) against its plain
definition route (`convt_oracle.definition.conv_transpose`, the scatter form read literally).

A seeded sweep (the seed and configuration index are in each test id) over 1-3 spatial axes, batch,
groups, channels per group, kernel, stride (also longer than the dilated kernel), dilation, asymmetric
crops, output_padding (also past the full result) and bias. Small-integer data make both routes exact,
so they must be equal; standard-normal data must agree within the rounding bound of the sums; planted
inf, -inf, NaN and zeros must give non-finite values of the same kind at the same positions. The
definition route itself is checked on examples worked out by hand.
"""

import itertools

import numpy as np
import pytest

import convt_oracle
from convt_oracle import arithmetic
from convt_oracle import definition

SEED = 20260611
CONFIGS = 320
EPS = 2.0**-53


def draw_config(index):
    """x shape, w shape, keyword parameters, bias length (or None) of sweep configuration `index`."""
    rng = np.random.default_rng([SEED, index])
    rank = int(rng.integers(1, 4))
    batch, groups, cig, cog = (int(v) for v in rng.integers(1, 4, size=4))
    largest_input = (6, 4, 3)[rank - 1]
    input_size, kernel, stride, dilation, padding, output_padding = [], [], [], [], [], []
    for _ in range(rank):
        i, k, s, d = (int(rng.integers(1, top + 1)) for top in (largest_input, 4, 4, 3))
        op = int(rng.integers(0, 5))
        full = arithmetic.full_size(i, k, s, d)
        # mostly crops that keep some of full; now and then any crop, up to past the end of full
        wide = rng.random() < 0.2
        begin = int(rng.integers(0, full + op if wide else max(1, full // 2)))
        end = int(rng.integers(0, full + op - begin if wide else max(1, (full + op - begin) // 2)))  # O >= 1
        input_size.append(i), kernel.append(k), stride.append(s), dilation.append(d)
        padding.append((begin, end)), output_padding.append(op)
    params = dict(stride=stride, padding=padding, output_padding=output_padding, dilation=dilation, groups=groups)
    bias = groups * cog if rng.random() < 0.5 else None
    return (batch, groups * cig, *input_size), (groups * cig, cog, *kernel), params, bias


def config_id(index):
    return f"seed{SEED}-config{index}"


def rounding_bound(x, w, bias, params):
    """|fast - definition| allowed: each route's sum of K terms (Cig * taps products, plus the bias) is off
    by at most about K * 2**-53 * sum |terms| (the sum of |terms| is the definition of |x| with |w|)."""
    magnitude = definition.conv_transpose(np.abs(x), np.abs(w), None if bias is None else np.abs(bias), **params)
    terms = x.shape[1] // params["groups"] * np.prod(w.shape[2:]) + 1
    return 4 * terms * EPS * magnitude + np.finfo(np.float64).tiny


def draw_data(rng, x_shape, w_shape, bias_length, kind):
    if kind == "integer":
        draw = lambda shape: rng.integers(-3, 4, size=shape).astype(np.float64)  # noqa: E731
    else:
        draw = rng.standard_normal
    return draw(x_shape), draw(w_shape), None if bias_length is None else draw((bias_length,))


def plant(rng, array, values):
    """Put each of `values` at a random position of `array` (in place)."""
    for value in values:
        array[tuple(int(rng.integers(0, n)) for n in array.shape)] = value


def assert_routes_agree(x, w, bias, params, exact):
    __tracebackhide__ = True
    with np.errstate(invalid="ignore"):  # the golden warns when its bias meets an inf of the other sign
        fast = convt_oracle.conv_transpose(x, w, bias, **params)
    plain = definition.conv_transpose(x, w, bias, **params)
    assert fast.shape == plain.shape, (fast.shape, plain.shape)
    for kind, where in (("NaN", np.isnan), ("+inf", np.isposinf), ("-inf", np.isneginf)):
        assert np.array_equal(where(fast), where(plain)), f"{kind} positions differ:\n{fast}\n{plain}"
    finite = np.isfinite(plain)
    if exact:
        assert np.array_equal(fast[finite], plain[finite]), f"\n{fast}\n{plain}"
    else:
        zeroed = [None if a is None else np.where(np.isfinite(a), a, 0.0) for a in (x, w, bias)]
        bound = rounding_bound(*zeroed, params)[finite]
        error = np.abs(fast[finite] - plain[finite])
        assert np.all(error <= bound), f"worst error / bound {np.max(error / bound)}"
    return plain


@pytest.mark.parametrize("index", range(CONFIGS), ids=config_id)
def test_fast_route_matches_definition(index):
    x_shape, w_shape, params, bias_length = draw_config(index)
    rng = np.random.default_rng([SEED, index, 1])
    for kind in ("integer", "normal"):
        x, w, bias = draw_data(rng, x_shape, w_shape, bias_length, kind)
        plain = assert_routes_agree(x, w, bias, params, exact=kind == "integer")
        assert np.isfinite(plain).all()


def nonfinite_data(index):
    """For both kinds of data: x, w, bias of configuration `index` with zeros, inf, -inf and NaN planted."""
    x_shape, w_shape, params, bias_length = draw_config(index)
    rng = np.random.default_rng([SEED, index, 2])
    for kind in ("integer", "normal"):
        x, w, bias = draw_data(rng, x_shape, w_shape, bias_length, kind)
        # zeros, so that inf * 0 happens in terms that exist: a quarter of x and w
        x[rng.random(x.shape) < 0.25] = 0.0
        w[rng.random(w.shape) < 0.25] = 0.0
        plant(rng, x, rng.choice([np.inf, -np.inf, np.nan, 0.0], size=int(rng.integers(0, 3))))
        plant(rng, w, rng.choice([np.inf, -np.inf, np.nan, 0.0], size=int(rng.integers(0, 3))))
        if bias is not None and rng.random() < 0.3:
            plant(rng, bias, rng.choice([np.inf, -np.inf, np.nan], size=1))
        yield kind, x, w, bias, params


@pytest.mark.parametrize("index", range(CONFIGS), ids=config_id)
def test_nonfinite_values_agree(index):
    for kind, x, w, bias, params in nonfinite_data(index):
        assert_routes_agree(x, w, bias, params, exact=kind == "integer")


def test_sweep_reaches_the_corners():
    """The sweep holds the cases the fast route treats apart, and the planted values make every kind of
    non-finite result, also NaN from inf * 0 or inf - inf alone (no NaN planted)."""
    ranks, strides_past_kernel, windows_past_full, crops, biases, nonzero = set(), 0, 0, 0, 0, 0
    for index in range(CONFIGS):
        x_shape, w_shape, params, bias_length = draw_config(index)
        x, w, _ = draw_data(np.random.default_rng([SEED, index, 1]), x_shape, w_shape, None, "integer")
        nonzero += definition.conv_transpose(x, w, **params).any()  # not all cropped off, say
        ranks.add(len(x_shape) - 2)
        biases += bias_length is not None
        out_shape = convt_oracle.output_shape(x_shape, w_shape, **params)
        for axis, (i, k) in enumerate(zip(x_shape[2:], w_shape[2:])):
            s, d, (b, e) = params["stride"][axis], params["dilation"][axis], params["padding"][axis]
            strides_past_kernel += s > arithmetic.effective_kernel(k, d)
            windows_past_full += b + out_shape[2 + axis] > arithmetic.full_size(i, k, s, d)
            crops += b != e
    assert ranks == {1, 2, 3}
    assert min(strides_past_kernel, windows_past_full, crops, biases, CONFIGS - biases) >= 20
    assert nonzero >= 0.8 * CONFIGS

    seen = {"NaN": 0, "NaN without a NaN factor": 0, "+inf": 0, "-inf": 0}
    for index in range(CONFIGS):
        for _, x, w, bias, params in nonfinite_data(index):
            out = definition.conv_transpose(x, w, bias, **params)
            seen["NaN"] += np.isnan(out).any()
            planted_nan = np.isnan(x).any() or np.isnan(w).any() or (bias is not None and np.isnan(bias).any())
            seen["NaN without a NaN factor"] += np.isnan(out).any() and not planted_nan
            seen["+inf"] += np.isposinf(out).any()
            seen["-inf"] += np.isneginf(out).any()
    assert min(seen.values()) >= 20, seen


@pytest.mark.parametrize(
    "x_shape, w_shape, bias_shape, params, words",
    [
        ((1, 2, 4), (2, 3, 3), None, dict(stride=-1), "stride: got -1"),
        ((1, 2, 4), (2, 3, 3), None, dict(stride=(1, 2)), "stride: got (1, 2) with 2 values"),
        ((1, 2, 4), (2, 3, 3), None, dict(padding=((3, 4),)), "output size of -1"),  # full 6, crop 7
        ((1, 2, 4, 4), (2, 3, 3, 3), None, dict(padding=((0, 0), (6, 0))), "axis 1 leaves an output size of 0"),
        ((1, 2, 4), (2, 3, 3), (4,), dict(), "bias: got shape (4,); expected (out_channels,) = (3,)"),
        ((1, 4, 4), (4, 3, 3), (3,), dict(groups=2), "expected (out_channels,) = (6,)"),  # Cout = 6
        ((1, 3, 4), (2, 3, 3), None, dict(), "x: got 3 channels"),
        ((1, 2, 4), (2, 3, 3), None, dict(groups=0), "groups: got 0"),
        ((1, 2, 4), (2, 3, 3), None, dict(padding="SAME"), "padding: got 'SAME'"),
        ((1, 2, 4), (2, 3, 3), None, dict(dilation=1.5), "dilation: got 1.5"),
    ],
)
def test_definition_raises_the_golden_errors(x_shape, w_shape, bias_shape, params, words):
    """Both refuse the same arguments, each with a message naming the argument and the value (written out
    here), and with the same message."""
    x, w = np.ones(x_shape), np.ones(w_shape)
    bias = None if bias_shape is None else np.ones(bias_shape)
    with pytest.raises((ValueError, TypeError)) as golden_error:
        convt_oracle.conv_transpose(x, w, bias, **params)
    with pytest.raises((ValueError, TypeError)) as definition_error:
        definition.conv_transpose(x, w, bias, **params)
    assert words in str(golden_error.value), str(golden_error.value)
    assert type(definition_error.value) is type(golden_error.value)
    assert str(definition_error.value) == str(golden_error.value)


def test_definition_1d_by_hand():
    x, w = np.array([[[1.0, 2.0]]]), np.array([[[1.0, 1.0, 1.0]]])
    # x[0] * w lands on 0, 1, 2; x[1] * w on 2, 3, 4
    np.testing.assert_array_equal(definition.conv_transpose(x, w, stride=2), [[[1, 1, 3, 2, 2]]])
    # crop 1 at the start, 0 at the end, 3 zeros appended, bias 10: [1, 3, 2, 2, 0, 0, 0] + 10
    np.testing.assert_array_equal(
        definition.conv_transpose(x, w, [10.0], stride=2, padding=((1, 0),), output_padding=3),
        [[[11, 13, 12, 12, 10, 10, 10]]],
    )
    # a kernel of 1 with stride 3: full [3, 0, 0, 6]; crop (1, 0) and output_padding 2: [0, 0, 6, 0, 0]
    np.testing.assert_array_equal(
        definition.conv_transpose(x, [[[3.0]]], stride=3, padding=((1, 0),), output_padding=2), [[[0, 0, 6, 0, 0]]]
    )
    # dilation 2: w taps at 0 and 2; x[1] * w at 1 and 3 (stride 1): [1*4, 2*4, 1*5, 2*5]
    np.testing.assert_array_equal(definition.conv_transpose(x, [[[4.0, 5.0]]], dilation=2), [[[4, 8, 5, 10]]])


def test_definition_groups_by_hand():
    # groups 2, one channel each way: out[0] = 2*3 + 1, out[1] = 5*7 - 1 (bias 1, -1)
    x, w = np.array([[[2.0], [5.0]]]), np.array([[[3.0]], [[7.0]]])
    np.testing.assert_array_equal(definition.conv_transpose(x, w, [1.0, -1.0], groups=2), [[[7], [34]]])
    # groups 1, two channels in, two out: out[co] = 2*w[0, co] + 5*w[1, co]
    w = np.array([[[1.0], [10.0]], [[100.0], [1000.0]]])
    np.testing.assert_array_equal(definition.conv_transpose(x, w), [[[502], [5020]]])


def test_definition_article_2d_example():
    x, w = np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), np.ones((1, 1, 3, 3))
    want = [[1, 1, 3, 2], [1, 1, 3, 2], [4, 4, 10, 6], [3, 3, 7, 4]]
    got = definition.conv_transpose(x, w, stride=2, padding=((0, 1), (0, 1)))
    np.testing.assert_array_equal(got, [[want]])


def test_definition_nonfinite_by_hand():
    # x = [inf, 1], w = [0, 1]: [inf*0, inf*1 + 1*0, 1*1] = [NaN, inf, 1]
    got = definition.conv_transpose([[[np.inf, 1.0]]], [[[0.0, 1.0]]])
    assert np.isnan(got[0, 0, 0]) and got[0, 0, 1] == np.inf and got[0, 0, 2] == 1.0
    # x = [inf, -inf], w = [1, 1]: [inf, inf - inf, -inf] = [inf, NaN, -inf]
    got = definition.conv_transpose([[[np.inf, -np.inf]]], [[[1.0, 1.0]]])
    assert got[0, 0, 0] == np.inf and np.isnan(got[0, 0, 1]) and got[0, 0, 2] == -np.inf
    # stride 3: the gaps between the taps hold no product, so stay 0 beside an inf; a -inf bias makes
    # the inf NaN and the rest -inf
    got = definition.conv_transpose([[[np.inf, 1.0]]], [[[1.0]]], stride=3)
    np.testing.assert_array_equal(got, [[[np.inf, 0, 0, 1]]])
    got = definition.conv_transpose([[[np.inf, 1.0]]], [[[1.0]]], [-np.inf], stride=3)
    assert np.isnan(got[0, 0, 0]) and (got[0, 0, 1:] == -np.inf).all()


def test_fast_route_gaps_beside_an_inf_stay_zero():
    """The fast route's matrix products multiply padding zeros with x's inf; those must not show."""
    got = convt_oracle.conv_transpose([[[np.inf, 1.0]]], [[[1.0]]], stride=3)
    np.testing.assert_array_equal(got, [[[np.inf, 0, 0, 1]]])


def test_every_tap_of_a_3d_kernel_is_read():
    """A 3-d check with one non-zero tap at a time: out equals x placed at that tap's offset."""
    x = np.arange(1.0, 9.0).reshape(1, 1, 2, 2, 2)
    for tap in itertools.product(range(2), range(2), range(2)):
        w = np.zeros((1, 1, 2, 2, 2))
        w[(0, 0, *tap)] = 1.0
        want = np.zeros((1, 1, 3, 3, 3))
        want[(0, 0, *(slice(t, t + 2) for t in tap))] = x[0, 0]
        np.testing.assert_array_equal(definition.conv_transpose(x, w), want)


def test_threads_calling_at_once_each_get_their_own_scratch():
    """The phase route keeps a scratch buffer per thread between calls: eight threads computing different
    geometries at once (small and large, so that the buffers are reused, grown and bypassed) each get the
    definition's exact result; so does a call after the buffer is released."""
    from concurrent.futures import ThreadPoolExecutor

    from convt_oracle import phase_route

    configs = [draw_config(index) for index in range(48)]
    kept = ((2, 64, 40, 40), (64, 64, 3, 3), {"stride": 2, "padding": 1}, None)  # 9.4 MiB of scratch
    past = ((16, 32, 40, 40), (32, 32, 3, 3), {"stride": 2, "padding": 1}, None)  # 16.02 MiB: not kept
    configs[::12] = [kept, past] * (len(configs[::12]) // 2)

    def check(index):
        x_shape, w_shape, params, bias_length = configs[index]
        x, w, bias = draw_data(np.random.default_rng([SEED, index, 2]), x_shape, w_shape, bias_length, "integer")
        fast, plain = convt_oracle.conv_transpose(x, w, bias, **params), definition.conv_transpose(x, w, bias, **params)
        return np.array_equal(fast, plain)

    with ThreadPoolExecutor(8) as pool:
        agree = list(pool.map(check, list(range(len(configs))) * 2))
    assert all(agree), [i for i, ok in enumerate(agree) if not ok]
    phase_route.release_scratch()
    assert check(1)

"""The keras-jax, keras-torch and keras-tensorflow adapters against the golden, with the real Keras.

Keras picks its backend once per process, so every run here is a fresh subprocess with its own backend
(support.isolated); this process never imports keras. Each backend is skipped, with the reason, when keras or the backend's
framework is not installed.

Tests named test_finding_* pin bugs found by the cross-check (the `finding` marker, tests/conftest.py):
they assert the correct behaviour and are strict xfails, so that a fixed framework fails the run (XPASS)
and the finding gets revisited.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from convt_oracle import arithmetic as A
from convt_oracle.adapters import registry
from convt_oracle.adapters.keras import KerasTensorflowAdapter
from convt_oracle.cases.model import make_case
from support import isolated, probes

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = {"keras-jax": "jax", "keras-torch": "torch", "keras-tensorflow": "tensorflow"}

pytestmark = pytest.mark.framework("keras")


def require(name):
    """Skip unless keras and the backend's framework are installed (without importing them here)."""
    for module in ("keras", BACKENDS[name]):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed: the {name} adapter cannot be checked")


def crosscheck_in_subprocess(name, suite, dtypes, **options):
    """support.isolated.crosscheck, skipped where keras or the backend's framework is missing."""
    require(name)
    return isolated.crosscheck(name, suite, dtypes, **options)


def tf_refuses_the_dilation(name, case) -> bool:
    """keras-tensorflow asks TF with a padding string: TF's CPU kernels refuse dilation in some dtypes here."""
    dilated = case.dilation != (1,) * case.spatial_rank
    return name == "keras-tensorflow" and dilated and probes.tf_refuses(case.dtype, dilated=True, rank=case.spatial_rank) is not None


# Every way Keras can be asked: 'same' / 'valid' with output_padding None (modes same, valid) and with
# integers (explicit and output_shape cases whose padding a Keras call gives); dilation; bias; each rank.
CASES = [
    make_case(mode="same", input_size=(5,), kernel_size=(3,), stride=2, in_channels=3, out_channels=4, batch=2,
              bias=True, seed=1),
    make_case(mode="same", input_size=(4, 3), kernel_size=(1, 2), stride=(3, 3), in_channels=2, out_channels=3,
              seed=2, name="'same', kernel shorter than the stride"),
    make_case(mode="same", input_size=(3, 2, 2), kernel_size=(2, 3, 3), stride=(2, 1, 3), in_channels=2,
              out_channels=3, bias=True, seed=3),
    make_case(mode="valid", input_size=(4,), kernel_size=(1,), stride=3, in_channels=2, out_channels=2, seed=4,
              name="'valid', output_padding None: (i-1)*s + max(k, s)"),
    make_case(mode="valid", input_size=(3, 4), kernel_size=(3, 2), stride=(2, 3), in_channels=3, out_channels=2,
              batch=2, bias=True, seed=5),
    make_case(mode="same", input_size=(3, 4), kernel_size=(3, 2), stride=(2, 1), dilation=(2, 3), in_channels=2,
              out_channels=3, seed=6, name="'same' with dilation (keras-tensorflow: float32 only)"),
    make_case(input_size=(4,), kernel_size=(1,), stride=3, output_padding=1, in_channels=2, out_channels=2, seed=7,
              name="('valid', output_padding=1): not the 2 zeros of output_padding None"),
    make_case(input_size=(3, 4), kernel_size=(3, 2), stride=(2, 3), output_padding=(1, 2), in_channels=2,
              out_channels=3, bias=True, seed=8, name="('valid', output_padding=(1, 2))"),
    make_case(input_size=(4, 5), kernel_size=(4, 4), stride=2, padding=((1, 2), (1, 2)), in_channels=2,
              out_channels=2, seed=9, name="('same', output_padding=1), even kernel: crop (1, 2)"),
    make_case(input_size=(5,), kernel_size=(3,), stride=1, padding=1, in_channels=2, out_channels=3, seed=10,
              name="('same', output_padding=0), odd kernel"),
    make_case(mode="output_shape", input_size=(4, 3), kernel_size=(3, 3), stride=2, padding=((1, 1), (1, 1)),
              in_channels=2, out_channels=2, seed=11, name="output_shape 7 x 5: ('same', output_padding=0)"),
]
# ('same', output_padding=0) with an even kernel: size (i-1)*s, which keras-tensorflow's TF call refuses
# (test_finding_keras_tensorflow_same_output_padding_0_even_kernel)
TF_REFUSES = [
    make_case(input_size=(4, 5), kernel_size=(4, 2), stride=2, padding=((2, 2), (1, 1)), in_channels=2,
              out_channels=3, seed=12, name="('same', output_padding=0), even kernels: crop (2, 2) and (1, 1)"),
]
UNSUPPORTED = {
    "grouped": (make_case(mode="same", input_size=(4,), kernel_size=(3,), groups=2, in_channels=2, out_channels=2,
                          seed=20), "has no grouped transposed convolution"),
    "asymmetric crop no Keras call gives": (
        make_case(input_size=(5,), kernel_size=(3,), padding=((2, 0),), seed=21),
        "takes only padding 'same'/'valid' plus an output_padding"),
}
# output_padding >= stride: outside Keras's documented domain ("lower than the stride"), asked all the same
# ('valid', output_padding=2): the jax and torch backends compute it (and are right), TF refuses the size.
OUTSIDE_DOMAIN = [make_case(input_size=(5,), kernel_size=(3,), stride=2, output_padding=2, seed=22)]


def plan(case):
    """The Keras call for `case` (the same for every backend; computed without importing keras)."""
    return KerasTensorflowAdapter().plan(case.with_dtype("float32") if case.dtype is None else case)


def tf_refuses_the_size(case) -> bool:
    """('same', integer output_padding) whose output size lies below TF's 'SAME' range on some axis."""
    padding, output_padding = plan(case)
    if padding != "same" or output_padding is None:
        return False
    sizes = case.output_shape[2:]
    return any(
        o < A.accepted_output_sizes(i, k, s, d, "SAME").start
        for i, k, s, d, o in zip(case.input_size, case.kernel_size, case.stride, case.dilation, sizes)
    )


def test_the_cases_ask_keras_what_they_say():
    assert [plan(c) for c in CASES[:6]] == [("same", None)] * 3 + [("valid", None)] * 2 + [("same", None)]
    assert plan(CASES[6]) == ("valid", (1,))
    assert plan(CASES[7]) == ("valid", (1, 2))
    assert plan(CASES[8]) == ("same", (1, 1))
    assert plan(CASES[9]) == ("same", (0,))
    assert plan(CASES[10]) == ("same", (0, 0))
    assert all(tf_refuses_the_size(case) for case in TF_REFUSES)
    assert not any(tf_refuses_the_size(case) for case in CASES)


@pytest.mark.parametrize("name", list(BACKENDS))
def test_keras_adapter_agrees_with_the_golden(name):
    rows = crosscheck_in_subprocess(name, CASES + TF_REFUSES + [c for c, _ in UNSUPPORTED.values()] + OUTSIDE_DOMAIN,
                                    ["float32", "float64"])
    problems, native = [], 0
    for row in rows:
        case = row.case
        if case.id in {c.with_dtype(case.dtype).id for c in TF_REFUSES} and name == "keras-tensorflow":
            expected = {"raised"}
        elif tf_refuses_the_dilation(name, case):
            expected = {"refused"}
        elif case.id in {c.with_dtype(case.dtype).id for c in OUTSIDE_DOMAIN}:
            expected = {"refused"} if name == "keras-tensorflow" else {"pass"}
        elif any(case.id == c.with_dtype(case.dtype).id for c, _ in UNSUPPORTED.values()):
            expected = {"unsupported"}
        else:
            expected = {"pass"}
        native += row.outcome == "pass"
        if row.outcome not in expected:
            problems.append(f"(expected {expected}) {row}")
    assert not problems, "\n\n".join(problems)
    assert len(rows) == 2 * (len(CASES) + len(TF_REFUSES) + len(UNSUPPORTED) + len(OUTSIDE_DOMAIN))
    assert native >= len(CASES)


@pytest.mark.parametrize("name", list(BACKENDS))
def test_output_padding_past_the_stride_is_outside_keras_s_domain_asked_and_refused_or_compared(name):
    """Keras documents output_padding lower than the stride; a case that needs more is asked all the same. The
    tensorflow backend's refusal is `refused` with both the limit and TF's message; the jax and torch backends
    return a result, which is compared (and right)."""
    require(name)
    adapter = registry.load(name)
    case = OUTSIDE_DOMAIN[0].with_dtype("float32")
    assert adapter.plan(case) == ("valid", (2,))
    assert adapter.domain(case).startswith("Keras takes output_padding lower than the stride")
    (row,) = crosscheck_in_subprocess(name, OUTSIDE_DOMAIN, ["float32"])
    if name == "keras-tensorflow":
        # TF's own message: Eigen's "Size of out_backprop doesn't match computed", or oneDNN's "could not create
        # a primitive descriptor" where oneDNN is on (the other kernel personality); both name the op
        assert row.outcome == "refused" and "refused it:" in row.message and "Conv2DBackpropInput" in row.message, str(row)
    else:
        assert row.outcome == "pass", str(row)


@pytest.mark.parametrize("name", list(BACKENDS))
def test_cases_keras_cannot_express_are_unsupported_with_a_specific_reason(name):
    rows = crosscheck_in_subprocess(name, [case for case, _ in UNSUPPORTED.values()], ["float32"])
    for row, (label, (_, reason)) in zip(rows, UNSUPPORTED.items()):
        assert row.outcome == "unsupported", (label, str(row))
        assert reason in row.message, (label, row.message)


@pytest.mark.parametrize("name", list(BACKENDS))
def test_smoke_suite(name):
    rows = crosscheck_in_subprocess(name, "smoke", ["float32", "float64"])
    unexplained = [
        str(row) for row in rows
        if row.outcome not in ("pass", "unsupported", "refused")
        and not (name == "keras-tensorflow" and row.outcome == "raised" and tf_refuses_the_size(row.case))
        and not row.padding_zeros
    ]
    assert not unexplained, "\n\n".join(unexplained)
    assert sum(row.outcome == "pass" for row in rows) >= len(rows) // 6  # half the suite has groups


@pytest.mark.parametrize("name", list(BACKENDS))
def test_smoke_suite_low_precision_within_dtype_accumulation(name):
    """float16 and bfloat16 are not within the default bound (float32 accumulation, one rounding): the bias
    is added by a second operation, rounding a second time, and TF's and torch's kernels round partial sums.
    Within the bound of accumulating in the dtype itself they are, but for a TF finding (bfloat16 NaN leak,
    tests/test_adapter_tensorflow.py)."""
    rows = crosscheck_in_subprocess(name, "smoke", ["float16", "bfloat16"],
                                    accumulation={"float16": "float16", "bfloat16": "bfloat16"})
    unexplained = [
        str(row) for row in rows
        if row.outcome not in ("pass", "unsupported", "refused")
        and not (name == "keras-tensorflow" and row.outcome == "raised" and tf_refuses_the_size(row.case))
        and not (name == "keras-tensorflow" and row.case.dtype == "bfloat16" and row.outcome == "nonfinite_mismatch"
                 and row.case.values == "nonfinite")
        and not row.padding_zeros
    ]
    assert not unexplained, "\n\n".join(unexplained)


def test_an_adapter_refuses_a_process_where_keras_has_another_backend():
    require("keras-jax")
    require("keras-torch")
    code = textwrap.dedent(
        """
        import os
        os.environ["KERAS_BACKEND"] = "jax"
        import keras
        from convt_oracle.adapters import registry
        try:
            registry.load("keras-torch").load()
        except RuntimeError as error:
            print("RuntimeError:", error)
        print("jax still loads:", registry.load("keras-jax").version())
        """
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    expected = "RuntimeError: keras-torch: keras is already imported in this process with the 'jax' backend"
    assert expected in completed.stdout, completed.stdout
    assert "jax still loads: 3." in completed.stdout


def test_keras_padding_is_tf_s_same_rule_wherever_tf_accepts_the_size():
    """('same', op) in Keras's jax form (convt_oracle.arithmetic.keras_padding) equals TF's 'SAME' output_shape rule for
    Keras's output size whenever TF accepts that size, and the None forms are same_padding / valid_padding."""
    compared = 0
    for i in range(1, 7):
        for k in range(1, 8):
            for s in range(1, 6):
                for d in range(1, 4):
                    assert A.keras_padding(i, k, s, d, "same", None) == A.same_padding(i, k, s, d)
                    assert A.keras_padding(i, k, s, d, "valid", None) == A.valid_padding(i, k, s, d)
                    for op in range(s):
                        pad = A.keras_padding(i, k, s, d, "same", op)
                        size = A.output_size(i, k, s, d, *pad)
                        if size in A.accepted_output_sizes(i, k, s, d, "SAME"):
                            assert pad == A.output_shape_padding(i, k, s, d, "SAME", size), (i, k, s, d, op)
                            compared += 1
    assert compared > 1500


REFUSAL = textwrap.dedent(
    """
    import os, sys
    os.environ["KERAS_BACKEND"] = sys.argv[1]
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    import numpy as np, keras
    layer = keras.layers.Conv1DTranspose(filters=1, kernel_size=4, strides=2, padding="same", output_padding=0)
    print("inferred", list(layer.compute_output_shape((1, 3, 1))))
    try:
        print("result", list(layer(np.ones((1, 3, 1), "float32")).shape))
    except Exception as error:
        print("raised", type(error).__name__)
    """
)


@pytest.mark.finding(
    "keras-tensorflow-same-output-padding-0-even-kernel",
    "keras 3.15.1 + tensorflow-cpu 2.21: ConvTranspose padding='same', output_padding=0 with an even kernel raises "
    "on the tensorflow backend; jax and torch return Keras's own inferred shape",
)
def test_finding_keras_tensorflow_same_output_padding_0_even_kernel():
    """keras.layers.Conv1DTranspose(1, kernel_size=4, strides=2, padding='same', output_padding=0) on an input of
    length 3: Keras infers length (i-1)*s + k%2 + output_padding = 4, and the jax and torch backends return it.
    The tensorflow backend asks tf.nn.conv_transpose for that length with 'SAME', which TF accepts only in
    [(i-1)*s + 1, i*s] = [5, 6]: AbortedError in float32 (oneDNN), InvalidArgumentError "Size of out_backprop
    doesn't match computed" in float64. Any even effective kernel with output_padding 0 does it (13 to 21 of
    the default suite's cases). Related: keras-team/keras#15666, #19909."""
    require("keras-tensorflow")
    results = {}
    for backend in ("jax", "tensorflow"):
        completed = subprocess.run(
            [sys.executable, "-c", REFUSAL, backend], capture_output=True, text=True, timeout=300,
            env={key: value for key, value in os.environ.items() if key != "KERAS_BACKEND"},
        )
        assert completed.returncode == 0, completed.stderr[-2000:]
        results[backend] = completed.stdout
    assert "inferred [1, 4, 1]" in results["jax"] and "result [1, 4, 1]" in results["jax"]
    assert "result [1, 4, 1]" in results["tensorflow"], results["tensorflow"]


# --- invalid configurations (the `invalid` suite: tests/test_invalid_inputs.py) -----------------------------------

# Runs under the backend given as argv[1]: prints "result SHAPE" or "raised TYPE" for one Keras call (argv[2]).
KERAS_CALL = textwrap.dedent(
    """
    import os, sys
    os.environ["KERAS_BACKEND"] = sys.argv[1]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np, keras
    try:
        y = eval(sys.argv[2])
        print("result", list(keras.ops.convert_to_numpy(y).shape))
    except Exception as error:
        print("raised", type(error).__name__)
    """
)


def keras_call(backend: str, call: str) -> str:
    """What KERAS_CALL prints for `call` on `backend`, in a fresh interpreter."""
    completed = subprocess.run(
        [sys.executable, "-c", KERAS_CALL, backend, call], capture_output=True, text=True, timeout=300,
        env={key: value for key, value in os.environ.items() if key != "KERAS_BACKEND"},
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    return completed.stdout.strip().splitlines()[-1]


@pytest.mark.finding(
    "keras-tensorflow-add-takes-a-vector-as-an-nchw-bias",
    "keras 3.15.1 + tensorflow-cpu 2.21: keras.ops.add adds a vector as long as axis 1 along axis 1 where "
    "numpy's broadcasting refuses the shapes",
)
def test_finding_keras_tensorflow_add_takes_a_vector_as_an_nchw_bias():
    """keras.ops.add(y, b) with y of shape (1, 4, 5, 3) and b of 4 elements: numpy refuses the shapes
    (4 against the last axis, 3), and so do the jax and torch backends; the tensorflow backend's add takes b
    for a bias (tf.nn.bias_add) and, b's length being y.shape[1], adds it along axis 1 (data_format NCHW),
    returning (1, 4, 5, 3). Found as `accepted_invalid` on the invalid suite: a bias one element too long,
    added the way Keras's layers add theirs, matched the result's height. keras/src/backend/tensorflow/numpy.py,
    `add`."""
    require("keras-tensorflow")
    call = "keras.ops.add(np.ones((1, 4, 5, 3), np.float32), np.arange(4, dtype=np.float32))"
    assert keras_call("jax", call) == "raised ValueError"
    assert keras_call("tensorflow", call).startswith("raised")


@pytest.mark.finding(
    "keras-accepts-a-negative-output-padding",
    "keras 3.15.1 (jax and torch backends): conv_transpose takes output_padding -1 and returns the full result less "
    "its last element",
)
@pytest.mark.parametrize("name", ["keras-jax", "keras-torch"])
def test_finding_keras_accepts_a_negative_output_padding(name):
    """padding='valid', stride 2, a 2x2 kernel on a 3x4 input: the full result is 6x8; output_padding (0, -1)
    gives 6x7 on the jax and torch backends, the last column dropped. Keras documents output_padding as
    "lower than the stride", and the golden, torch and onnxruntime refuse a negative one (the tensorflow
    backend's TF call refuses it too)."""
    require(name)
    call = ("keras.ops.conv_transpose(np.ones((1, 3, 4, 2), np.float32), np.ones((2, 2, 3, 2), np.float32), "
            "strides=2, padding='valid', output_padding=(0, -1), data_format='channels_last')")
    assert keras_call(BACKENDS[name], call).startswith("raised")


@pytest.mark.parametrize("name", list(BACKENDS))
def test_the_vjp_through_the_backend_s_autodiff_agrees_with_the_golden(name):
    """jax.vjp, torch.autograd, tf.GradientTape around the same keras.ops.conv_transpose call."""
    rows = crosscheck_in_subprocess(name, CASES, ["float32", "float64"], grad=True)
    problems = [
        str(row) for row in rows
        if row.outcome not in ("pass", "unsupported") and not (row.outcome == "refused" and tf_refuses_the_dilation(name, row.case))
    ]
    assert not problems, "\n\n".join(problems)
    vjp_passes = [row.case for row in rows if row.check == "vjp" and row.outcome == "pass"]
    assert len(vjp_passes) >= len(CASES), f"{len(vjp_passes)} vjp passes for {len(CASES)} cases in 2 dtypes"


# --- findings of an older Keras (3.10.0 on the torch backend), fixed in 3.15.1 ---------------------------------

OLD_KERAS = "3.10.0"

# Runs in the old Keras's interpreter: keras.ops.conv_transpose on the torch backend, printing the result's
# values, or "raised: " and the message. numpy and keras only.
OLD_KERAS_CALL = """
import json, os, sys, warnings
os.environ["KERAS_BACKEND"] = "torch"
warnings.simplefilter("ignore")
import numpy as np, keras
x, kernel, stride = json.loads(sys.argv[1])
try:
    y = keras.ops.conv_transpose(np.array(x, np.float32), np.array(kernel, np.float32), strides=stride, padding="same")
    print(json.dumps(np.asarray(y).ravel().tolist()))
except Exception as error:
    print(json.dumps("raised: " + str(error)))
"""


@pytest.fixture(scope="module")
def old_keras(request, tmp_path_factory) -> str:
    """An interpreter with Keras 3.10.0 and torch, made once by `convt-oracle env` (uv; torch's CPU wheel where
    this machine has one) and kept in pytest's cache; skipped, saying why, where it cannot be made."""
    cache = getattr(request.config, "cache", None)
    folder = (cache.mkdir(f"keras-{OLD_KERAS}-torch-py{sys.version_info[0]}{sys.version_info[1]}")
              if cache is not None else tmp_path_factory.mktemp("old-keras"))
    python, ready = folder / "env" / "bin" / "python", folder / "ready"
    if not ready.exists():
        done = subprocess.run([sys.executable, "-m", "convt_oracle", "env", str(folder / "env"), f"keras=={OLD_KERAS}",
                               "--backend", "torch"], capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            pytest.skip(f"cannot make Keras {OLD_KERAS} with torch here (convt-oracle env, exit {done.returncode}): "
                        f"{done.stderr.strip().splitlines()[-1:]}")
        ready.write_text("")
    return str(python)


def old_keras_call(python, x, kernel, stride):
    import json

    done = subprocess.run([python, "-c", OLD_KERAS_CALL, json.dumps([x, kernel, stride])], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.finding(
    "keras-torch-same-crops-the-wrong-end",
    f"keras {OLD_KERAS} on torch: conv_transpose padding='same' with an odd total crop crops the beginning instead "
    "of the end: the result is shifted by one element",
)
def test_finding_old_keras_torch_same_crops_the_wrong_end(old_keras):
    """x = [1, 2], a kernel of three ones, stride 2: the full result is [1, 1, 3, 2, 2], and 'same' (TF's rule,
    which Keras documents: output size i*s) crops (0, 1) to [1, 1, 3, 2]. Keras 3.10.0's torch backend gives
    [1, 3, 2, 2]: the crop (1, 0), every value one place early. 3.15.1 gives [1, 1, 3, 2]. Found by the gate of
    3.10.0 against 3.15.1 (README, "The gate on real versions"): of its 56 value and non-finite mismatches
    `fixed`, 53 are exactly the golden with each axis's crop swapped."""
    assert old_keras_call(old_keras, [[[1.0], [2.0]]], [[[1.0]], [[1.0]], [[1.0]]], 2) == [1.0, 1.0, 3.0, 2.0]


@pytest.mark.finding(
    "keras-torch-same-raises-for-an-even-kernel-at-stride-1",
    f"keras {OLD_KERAS} on torch: conv_transpose padding='same' at stride 1 with an even kernel raises "
    "(it asks torch for output_padding 1 >= stride)",
)
def test_finding_old_keras_torch_same_raises_for_an_even_kernel_at_stride_1(old_keras):
    """Three ones, a kernel of four ones, stride 1, 'same': the full result [1, 2, 3, 3, 2, 1] cropped (1, 2)
    to the input's size gives [2, 3, 3]. Keras 3.10.0's torch backend raises "The padding arguments
    (padding=same) and output_padding=1) lead to a Torch output_padding (1) that is greater than strides (1)";
    3.15.1 gives [2, 3, 3]. 42 `raised` of the default suite, `fixed` by 3.15.1."""
    answer = old_keras_call(old_keras, [[[1.0], [1.0], [1.0]]], [[[1.0]]] * 4, 1)
    assert answer == [2.0, 3.0, 3.0], answer


def test_the_old_keras_shift_is_diagnosed_shrunk_and_reproduced_where_it_lives(old_keras, tmp_path):
    """The gate's demonstration, explained: Keras 3.10.0's torch backend on a 'same' case is `crop_swapped`
    (also a shift by one), the shrinker keeps that diagnosis down to a 1-d case, and the standalone
    reproducer (numpy and Keras only, written by the old Keras's worker) fails under Keras 3.10.0 and
    passes under this environment's Keras, where the bug is fixed."""
    pytest.importorskip("torch")
    from convt_oracle.harness.crosscheck import check_case
    from convt_oracle.harness.reproducers import snippet
    from convt_oracle.harness.shrink import shrink
    from convt_oracle.harness.targets import TargetSpec

    label = f"keras-torch@{old_keras}"
    case = make_case(input_size=(2, 3), kernel_size=(3, 3), stride=2, in_channels=2, out_channels=2, mode="same",
                     dtype="float32", seed=1)
    worker = TargetSpec.parse(label).isolated(timeout=120)
    try:
        result = check_case(worker, case, label)
        assert (result.outcome, result.diagnosis.name) == ("value_mismatch", "crop_swapped"), result.message
        shrunk = shrink(worker, case, outcome=result.outcome, diagnosis="crop_swapped", budget=60)
        text = snippet(worker, shrunk.case, name=label)
    finally:
        worker.close()
    assert shrunk.case.spatial_rank == 1 and shrunk.case.batch == 1 and shrunk.case.in_channels == 1
    assert "convt_oracle" not in text.split("# the case's data")[1] and "keras.ops.conv_transpose" in text
    script = tmp_path / "repro.py"
    script.write_text(text)
    old = subprocess.run([old_keras, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert old.returncode != 0 and "AssertionError: result:" in old.stderr, old.stderr[-2000:]
    new = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert new.returncode == 0 and "is right" in new.stdout, new.stderr[-2000:]

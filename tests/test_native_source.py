"""Adapter.native_source: each adapter's own call for a case as standalone source, run against its call_case.

For every registered adapter, on CASES (each mode; 1-, 2- and 3-d; groups, dilation, asymmetric padding,
output_padding, bias, non-finite values; float32, float64, float16, bfloat16), with the real frameworks:
the source, executed in a fresh namespace where x, w and bias are the case's arrays in float64, binds
`actual`, equal bit for bit (NaN where NaN) to call_case's result; where call_case raises (a refusal, a
framework's failure), the source raises the framework's same error; where the adapter cannot express the
case, native_source raises call_case's Unsupported (the test is then skipped with that reason). The source
names no convt_oracle, and once per adapter it runs in a fresh interpreter from its text alone, the arrays
written as literals, with convt_oracle made unimportable. The ONNX sources' `model` is build_model's.

Keras picks its backend once per process, so each keras adapter is checked in a subprocess of its own,
which runs this module's `outcome` on every case (this process never imports keras): one test per backend.
The standalone run is once per framework (its first CPU adapter; keras-jax for Keras).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from convt_oracle.adapters import registry
from convt_oracle.adapters._onnx_model import OnnxAdapter, attributes, build_model
from convt_oracle.adapters.base import Adapter, framework_message, literal
from convt_oracle.adapters.keras import KerasAdapter
from convt_oracle.cases.model import make_case
from convt_oracle.errors import Refused, Unsupported

TESTS = Path(__file__).resolve().parent
pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # the non-finite case

# (name, configuration): each in float32 and in one of the other dtypes, in turn.
CONFIGURATIONS = [
    ("2d-explicit-groups-dilation-asymmetric-bias", dict(
        input_size=(4, 5), kernel_size=(3, 2), in_channels=4, out_channels=6, groups=2, batch=2, stride=(2, 1),
        dilation=(1, 2), padding=((1, 1), (2, 1)), output_padding=(1, 0), bias=True, seed=17)),
    ("1d-explicit-asymmetric-output-padding", dict(
        input_size=6, kernel_size=4, in_channels=2, out_channels=3, stride=3, padding=((2, 1),), output_padding=1,
        seed=5)),
    ("3d-explicit-bias", dict(
        input_size=(3, 4, 2), kernel_size=(2, 3, 2), in_channels=3, out_channels=2, stride=(1, 2, 2),
        padding=(0, 1, 0), bias=True, seed=6)),
    ("2d-explicit-depthwise-dilation", dict(
        input_size=(4, 4), kernel_size=3, in_channels=4, out_channels=4, groups=4, stride=2, dilation=2, padding=1,
        output_padding=1, seed=7)),
    ("2d-explicit-output-padding-bias", dict(  # Keras: ('valid', output_padding=(1, 2))
        input_size=(3, 4), kernel_size=(3, 2), in_channels=2, out_channels=3, stride=(2, 3), output_padding=(1, 2),
        bias=True, seed=12)),
    ("2d-same-bias", dict(
        mode="same", input_size=(4, 5), kernel_size=(4, 3), in_channels=2, out_channels=3, stride=2, bias=True,
        seed=3)),
    ("1d-same-dilation", dict(
        mode="same", input_size=4, kernel_size=2, in_channels=2, out_channels=2, stride=2, dilation=2, seed=14)),
    ("3d-same", dict(
        mode="same", input_size=(3, 2, 2), kernel_size=(2, 3, 3), in_channels=2, out_channels=3, stride=(2, 1, 3),
        seed=8)),
    ("2d-valid-bias", dict(
        mode="valid", input_size=(3, 4), kernel_size=(3, 2), in_channels=3, out_channels=2, stride=(2, 3), bias=True,
        batch=2, seed=4)),
    ("1d-valid-groups", dict(
        mode="valid", input_size=5, kernel_size=3, in_channels=4, out_channels=2, groups=2, stride=2, seed=9)),
    ("1d-output-shape-bias", dict(
        mode="output_shape", input_size=5, kernel_size=3, stride=2, padding=1, output_padding=1, bias=True, seed=1)),
    ("2d-output-shape-groups", dict(
        mode="output_shape", input_size=(4, 5), kernel_size=3, in_channels=2, out_channels=4, groups=2, stride=2,
        padding=1, output_padding=1, seed=2)),
    ("2d-output-shape-bias", dict(  # Keras: ('same', output_padding=0)
        mode="output_shape", input_size=(4, 3), kernel_size=3, in_channels=2, out_channels=2, stride=2, padding=1,
        bias=True, seed=13)),
    ("3d-output-shape", dict(
        mode="output_shape", input_size=(2, 3, 2), kernel_size=(3, 3, 2), in_channels=2, out_channels=2,
        stride=(2, 2, 1), padding=((1, 1), (1, 1), (0, 0)), output_padding=(1, 0, 0), seed=10)),
    ("2d-explicit-nonfinite", dict(
        input_size=(3, 4), kernel_size=(2, 3), in_channels=2, out_channels=3, stride=2, padding=((0, 1), (1, 1)),
        output_padding=(1, 1), values="nonfinite", seed=11)),
]
OTHER_DTYPES = ("float64", "float16", "bfloat16")
CASES = [
    make_case(name=f"{name}-{dtype}", dtype=dtype, **configuration)
    for index, (name, configuration) in enumerate(CONFIGURATIONS)
    for dtype in ("float32", OTHER_DTYPES[index % len(OTHER_DTYPES)])
]


# --- what is checked, one case at a time (also in the keras subprocesses) ------------------------------------
def float64_arrays(case):
    """The case's (x, w, bias) in its dtype, and as the float64 arrays a native source is given."""
    x, w, bias = case.arrays()
    as_float64 = (x.astype(np.float64), w.astype(np.float64), None if bias is None else bias.astype(np.float64))
    return (x, w, bias), as_float64


def outcome(adapter: Adapter, case) -> tuple[str, str]:
    """How `adapter.native_source(case)` compares with `adapter.call_case(case, ...)`:
    ("unsupported", call_case's reason), ("same", what agreed) or ("differs", what differs)."""
    arrays, (x, w, bias) = float64_arrays(case)
    try:
        source = adapter.native_source(case)
    except Unsupported as error:
        try:
            adapter.call_case(case, *arrays)
        except Unsupported as call_error:
            if str(call_error) == str(error):
                return "unsupported", str(error)
            return "differs", f"native_source: Unsupported({error}); call_case: Unsupported({call_error})"
        return "differs", f"native_source raised Unsupported({error}) where call_case ran"
    if "convt_oracle" in source:
        return "differs", f"the source names convt_oracle:\n{source}"
    if not source.startswith(f"# {adapter.framework} {adapter.version()}"):
        return "differs", f"the source does not start with '# {adapter.framework} {adapter.version()}':\n{source}"
    expected = error = None
    try:
        expected = adapter.call_case(case, *arrays)
    except Exception as call_error:  # noqa: BLE001 - a refusal or a failure: the source must raise it too
        error = call_error
    namespace = {"np": np, "x": x, "w": w, "bias": bias}
    try:
        exec(compile(source, f"<native source of {adapter.name}>", "exec"), namespace)  # noqa: S102 - the code under test
    except Exception as source_error:  # noqa: BLE001 - compared with call_case's below
        if error is None:
            return "differs", f"the source raised {type(source_error).__name__}: {source_error}\n{source}"
        said = f"{type(source_error).__name__}: {framework_message(source_error)}"
        if isinstance(error, Refused):
            agrees = said in str(error)
        else:
            agrees = said == f"{type(error).__name__}: {framework_message(error)}"
        if not agrees:
            return "differs", f"the source raised {said!r}; call_case raised {type(error).__name__}: {error}"
        return "same", f"both raise {said}"
    if error is not None:
        return "differs", f"call_case raised {type(error).__name__}: {error}; the source ran\n{source}"
    actual = namespace.get("actual")
    if not isinstance(actual, np.ndarray) or actual.dtype != np.float64 or actual.shape != expected.shape:
        return "differs", (f"`actual` is {type(actual).__name__} {getattr(actual, 'dtype', '')} "
                           f"{getattr(actual, 'shape', '')}, not float64 {expected.shape}\n{source}")
    try:
        np.testing.assert_array_equal(actual, np.asarray(expected).astype(np.float64), strict=True)
    except AssertionError as mismatch:
        return "differs", f"{mismatch}\n{source}"
    if isinstance(adapter, OnnxAdapter):
        model = build_model(case, attributes(case), **adapter.model_format)
        if namespace["model"].SerializeToString() != model.SerializeToString():
            return "differs", f"the source's model is not build_model's:\n{namespace['model']}\n{model}"
    return "same", f"equal results, {actual.size} elements"


STANDALONE = """
import sys
sys.modules["convt_oracle"] = None  # the source stands alone: any import of convt_oracle fails
import json
import numpy as np
x = np.array({x}, dtype=np.float64)
w = np.array({w}, dtype=np.float64)
bias = {bias}
{source}
print(json.dumps(actual.tolist()))
"""


def standalone_outcome(adapter: Adapter) -> tuple[str, str]:
    """The first of CASES the adapter runs with a result, its source run in a fresh interpreter from its text
    alone (the arrays as literals): ("same", ...) where it prints call_case's result, else ("differs", ...)."""
    for case in CASES:
        if case.values != "normal" or adapter.unsupported(case) is not None:
            continue
        arrays, (x, w, bias) = float64_arrays(case)
        try:
            expected = adapter.call_case(case, *arrays)
        except Exception:  # noqa: BLE001 - outside the adapter's domain here: another case
            continue
        script = STANDALONE.format(
            x=x.tolist(), w=w.tolist(), bias="None" if bias is None else f"np.array({bias.tolist()}, dtype=np.float64)",
            source=adapter.native_source(case),
        )
        environment = {key: value for key, value in os.environ.items() if key not in ("KERAS_BACKEND", "PYTHONPATH")}
        environment.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        with tempfile.TemporaryDirectory() as empty:  # run from a folder with nothing of the project in it
            completed = subprocess.run(
                [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=environment, cwd=empty,
            )
        if completed.returncode != 0:
            return "differs", f"the standalone source of {case.id} ended with {completed.returncode}:\n{completed.stderr[-3000:]}"
        actual = np.array(json.loads(completed.stdout.strip().splitlines()[-1]), dtype=np.float64)
        try:
            np.testing.assert_array_equal(actual, np.asarray(expected).astype(np.float64), strict=True)
        except AssertionError as mismatch:
            return "differs", f"the standalone source of {case.id}: {mismatch}"
        return "same", case.id
    return "unsupported", f"{adapter.name} runs none of the cases here"


# --- which adapters, and where they are checked ---------------------------------------------------------------
def needs(adapter_class) -> tuple[str, ...]:
    """The modules an adapter imports: its framework, Keras's backend, onnx beside onnxruntime."""
    modules = [adapter_class.framework]
    if issubclass(adapter_class, KerasAdapter):
        modules.append(adapter_class.backend)
    if issubclass(adapter_class, OnnxAdapter):
        modules.append("onnx")
    return tuple(dict.fromkeys(modules))


ADAPTER_CLASSES = {name: point.load() for name, point in sorted(registry.available().items())}
KERAS = [name for name, cls in ADAPTER_CLASSES.items() if issubclass(cls, KerasAdapter)]
IN_PROCESS = [name for name in ADAPTER_CLASSES if name not in KERAS]
# The standalone run, once per framework: its first CPU adapter (a device variant's source differs in its device only).
STANDALONE_BY = {}
for _name, _cls in ADAPTER_CLASSES.items():
    if _cls.device == "cpu":
        STANDALONE_BY.setdefault(_cls.framework, _name)


def adapter_params(names):
    return [pytest.param(name, marks=[pytest.mark.framework(module) for module in needs(ADAPTER_CLASSES[name])], id=name)
            for name in names]


def require(name):
    """Skip unless the adapter's modules are installed (without importing them here) and it writes its source."""
    for module in needs(ADAPTER_CLASSES[name]):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed: the {name} adapter's native source cannot be checked")
    if ADAPTER_CLASSES[name].native_lines is Adapter.native_lines:
        pytest.skip(f"{name} does not write its call as source")


@functools.cache
def adapter(name: str) -> Adapter:
    """One instance per adapter for the module (its compiled sessions and caches shared by the cases)."""
    return registry.load(name)


RUNNER = """
import json, sys
from convt_oracle.adapters import registry
import test_native_source as checks

adapter = registry.load(sys.argv[1])
standalone = checks.standalone_outcome(adapter) if sys.argv[2] == "standalone" else None
print(json.dumps({"cases": [checks.outcome(adapter, case) for case in checks.CASES], "standalone": standalone}))
"""


def isolated(name: str, standalone: bool) -> dict:
    """`outcome` of every case (and `standalone_outcome`), computed in a fresh interpreter (Keras's backend)."""
    environment = {key: value for key, value in os.environ.items() if key != "KERAS_BACKEND"}
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), environment.get("PYTHONPATH")]))
    environment.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    completed = subprocess.run(
        [sys.executable, "-c", RUNNER, name, "standalone" if standalone else "-"], capture_output=True, text=True,
        timeout=900, env=environment,
    )
    assert completed.returncode == 0, f"the {name} check ended with {completed.returncode}:\n{completed.stderr[-3000:]}"
    return json.loads(completed.stdout.strip().splitlines()[-1])


def checked(kind: str, detail: str):
    __tracebackhide__ = True
    if kind == "unsupported":
        pytest.skip(detail)
    assert kind == "same", detail


# --- the tests ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
@pytest.mark.parametrize("name", adapter_params(IN_PROCESS))
def test_the_native_source_does_what_call_case_does(name, case):
    require(name)
    checked(*outcome(adapter(name), case))


@pytest.mark.parametrize("name", adapter_params(KERAS))
def test_the_keras_native_source_does_what_call_case_does(name):
    """Every case in one subprocess per backend (Keras's backend is chosen once per process)."""
    require(name)
    result = isolated(name, standalone=STANDALONE_BY.get("keras") == name)
    outcomes = dict(zip((case.name for case in CASES), (tuple(row) for row in result["cases"])))
    differ = {case: detail for case, (kind, detail) in outcomes.items() if kind == "differs"}
    assert not differ, "\n\n".join(f"{case}: {detail}" for case, detail in differ.items())
    same = [case for case, (kind, _) in outcomes.items() if kind == "same"]
    assert len(same) >= 8, f"{name} ran only {same}"  # same and valid, explicit and output_shape, 1-/2-/3-d, 4 dtypes
    if result["standalone"] is not None:
        assert result["standalone"][0] == "same", result["standalone"][1]


@pytest.mark.parametrize("name", adapter_params(name for name in STANDALONE_BY.values() if name not in KERAS))
def test_the_native_source_stands_alone(name):
    require(name)
    checked(*standalone_outcome(adapter(name)))


def test_the_cases_cover_every_mode_rank_and_dtype():
    assert {case.mode for case in CASES} == {"explicit", "same", "valid", "output_shape"}
    assert {case.spatial_rank for case in CASES} == {1, 2, 3}
    assert {case.dtype for case in CASES} == {"float32", "float64", "float16", "bfloat16"}
    assert any(case.groups > 1 for case in CASES) and any(max(case.dilation) > 1 for case in CASES)
    assert any(b != e for case in CASES for b, e in case.padding)
    assert any(max(case.output_padding) > 0 for case in CASES) and any(case.bias for case in CASES)
    assert any(case.values == "nonfinite" for case in CASES)


def test_every_framework_is_run_standalone_once():
    assert set(STANDALONE_BY) == {cls.framework for cls in ADAPTER_CLASSES.values()}


def test_an_adapter_without_its_source_says_so():
    class Bare(Adapter):
        name = "bare"
        framework = "numpy"

    with pytest.raises(NotImplementedError, match="bare does not write its call as source"):
        Bare().native_source(CASES[0])
    three_d = next(case for case in CASES if case.spatial_rank == 3)
    with pytest.raises(Unsupported, match="flat has no 3-d transposed convolution"):
        type("Flat", (Bare,), {"name": "flat", "spatial_ranks": (1, 2)})().native_source(three_d)


def test_a_parameter_with_no_literal_is_refused_by_name():
    assert literal((np.int64(2),)) == "(2,)" and literal({"output_size": [3, 4]}) == "{'output_size': [3, 4]}"
    with pytest.raises(TypeError, match="literal: got ndarray"):
        literal([np.zeros(2)])

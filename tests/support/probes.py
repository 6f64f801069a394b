"""Which kernel a framework runs for a call, asked of the framework itself.

A framework picks its kernels by the CPU and by its settings (TF_ENABLE_ONEDNN_OPTS, ONEDNN_MAX_CPU_ISA,
ATEN_CPU_CAPABILITY, torch.backends.mkldnn), so a test whose expectation depends on the kernel asks which
one runs here, never the CPU's flags:

- oneDNN (inside torch and TensorFlow): each probe call runs in a fresh interpreter with ONEDNN_VERBOSE=1
  and the current environment; oneDNN prints a line for every primitive it executes, with its
  implementation, and once the instruction set it dispatches to (`isa:`). A control call that always goes
  through oneDNN first proves that its lines come out at all; without them nothing can be told.
- XLA (jax on the CPU): each probe call is compiled in a fresh interpreter with --xla_dump_to: a
  convolution that XLA emits as a loop of its own leaves an `elemental_kernel` module in the dump; one that
  it hands to its runtime convolution (Eigen's, which multiplies the zeros of the padding like any other
  input) leaves none.

The calls of one framework run together in one interpreter, once per test process (they are cached), so
each framework is imported once for all its probes. A probe's answer is a `Kernel`; a finding turns it into
a `Verdict` (the buggy kernel runs here, another one runs, or it cannot be told; tests/conftest.py).
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass

# --- the calls ----------------------------------------------------------------------------------------------
# Each is a snippet that runs one call with the framework imported as `torch` / `tf` (and `np`, `F`).

TORCH_CALLS = {
    "float16 conv_transpose1d": "F.conv_transpose1d(torch.ones((1, 1, 9), dtype=torch.float16), "
    "torch.ones((1, 1, 9), dtype=torch.float16))",
    "float16 conv_transpose1d, stride 2": "F.conv_transpose1d(torch.ones((1, 1, 1), dtype=torch.float16), "
    "torch.ones((1, 1, 3), dtype=torch.float16), stride=2)",
    "bfloat16 conv_transpose1d, stride 2": "F.conv_transpose1d(torch.ones((1, 1, 1), dtype=torch.bfloat16), "
    "torch.ones((1, 1, 3), dtype=torch.bfloat16), stride=2)",
    "bfloat16 conv_transpose1d, stride 2, output_padding 1": "F.conv_transpose1d(torch.ones((1, 1, 4), "
    "dtype=torch.bfloat16), torch.ones((1, 1, 1), dtype=torch.bfloat16), stride=2, output_padding=1)",
    "bfloat16 conv_transpose1d, dilation 2": "F.conv_transpose1d(torch.ones((1, 1, 9), dtype=torch.bfloat16), "
    "torch.ones((1, 1, 5), dtype=torch.bfloat16), dilation=2)",
    "bfloat16 conv_transpose1d, dilation 2, output_padding 1": "F.conv_transpose1d(torch.ones((1, 1, 9), "
    "dtype=torch.bfloat16), torch.ones((1, 1, 5), dtype=torch.bfloat16), dilation=2, output_padding=1)",
}
TORCH_CALLS.update({  # the weight gradient of conv_transpose1d over a batch of 3 (the finding's call)
    f"{dtype} conv_transpose1d weight gradient": f"torch.autograd.grad(F.conv_transpose1d(torch.ones((3, 1, 1), "
    f"dtype=torch.{dtype}), (w := torch.ones((1, 1, 1), dtype=torch.{dtype}, requires_grad=True))).sum(), w)"
    for dtype in ("float16", "bfloat16")
})
TORCH_CONTROL = "torch.mkldnn_convolution(torch.ones(1, 1, 4, 4), torch.ones(1, 1, 2, 2), None, [0, 0], [1, 1], [1, 1], 1)"

TF_CALLS = {
    **{
        f"{dtype} conv1d_transpose 'VALID', stride 2": f"tf.nn.conv1d_transpose(tf.ones((1, 1, 1), tf.{dtype}), "
        f"tf.ones((3, 1, 1), tf.{dtype}), [1, 3, 1], strides=2, padding='VALID')"
        for dtype in ("float32", "float16", "bfloat16")
    },
    **{
        f"{dtype} conv2d_transpose {name}": f"tf.nn.conv2d_transpose(tf.ones((1, 1, 2, 1), tf.{dtype}), "
        f"tf.ones((1, 2, 1, 1), tf.{dtype}), [1, 1, 3, 1], 1, {padding})"
        for dtype in ("float16", "bfloat16")
        for name, padding in (("'VALID'", "'VALID'"), ("explicit pairs", "[[0, 0], [0, 0], [0, 0], [0, 0]]"))
    },
    "float32 conv2d_transpose 'VALID', stride 2": "tf.nn.conv2d_transpose(tf.ones((1, 3, 4, 2)), "
    "tf.ones((2, 2, 3, 2)), [1, 6, 8, 3], 2, 'VALID')",
    "float32 conv2d_transpose 'VALID', output_shape shorter than the kernel": "tf.nn.conv2d_transpose("
    "tf.ones((1, 1, 2, 1)), tf.ones((3, 1, 1, 1)), [1, 2, 2, 1], (2, 1), 'VALID')",
    "float32 Conv2DBackpropFilter, 1x1 filter, stride (1, 2)": "tf.raw_ops.Conv2DBackpropFilter("
    "input=tf.ones((1, 5, 8, 3)), filter_sizes=[1, 1, 3, 2], out_backprop=tf.ones((1, 5, 4, 2)), "
    "strides=[1, 1, 2, 1], padding='VALID')",
    "bfloat16 Conv2DBackpropFilter, 'SAME'": "tf.raw_ops.Conv2DBackpropFilter(input=tf.ones((1, 7, 1, 2), "
    "tf.bfloat16), filter_sizes=[3, 3, 2, 3], out_backprop=tf.ones((1, 4, 1, 3), tf.bfloat16), "
    "strides=[1, 2, 5, 1], padding='SAME')",
}
# TensorFlow's Eigen contractions call oneDNN's gemm, and its oneDNN matmul is oneDNN's: either way a line.
TF_CONTROL = "tf.linalg.matmul(tf.ones((64, 64)), tf.ones((64, 64)))"

# Each is (dtype, input size, kernel size, stride, padding pairs) of a 1-d lax.conv_transpose, NCH / OIH.
JAX_CALLS = {
    f"{dtype} conv_transpose 'VALID', stride 1": (dtype, 3, 3, 1) for dtype in ("float32", "float16", "bfloat16", "float64")
}


@dataclass(frozen=True)
class Kernel:
    """What ran for one probe call. `runs`: the kernel kinds seen (for oneDNN, its convolution primitives'
    implementations, empty when another kernel ran; for XLA, "runtime convolution" or "elemental loop");
    None when nothing can be told, `detail` then says why. `isa`: oneDNN's dispatch ISA, where it printed one."""

    call: str
    runs: tuple[str, ...] | None
    detail: str
    isa: str = ""

    @property
    def onednn(self) -> bool | None:
        """Whether oneDNN ran a convolution for the call (None: cannot tell)."""
        return None if self.runs is None else bool(self.runs)


# --- oneDNN: torch and TensorFlow ----------------------------------------------------------------------------

_ONEDNN_SCRIPT = textwrap.dedent(
    """
    import ctypes, json, os, sys
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    libc = ctypes.CDLL(None)

    def mark(name):  # oneDNN prints through C's stdio: flush it before each marker
        sys.stdout.flush()
        libc.fflush(None)
        os.write(1, ("@@probe " + name + "\\n").encode())

    import numpy as np
    {imports}
    control, calls = json.loads(sys.argv[1])
    mark("control")
    eval(control)
    for name, call in calls.items():
        mark(name)
        try:
            eval(call)
        except Exception as error:
            mark("error " + type(error).__name__)
    mark("end")
    """
)
_IMPORTS = {
    "torch": "import torch\nF = torch.nn.functional",
    "tensorflow": "import tensorflow as tf",
}


def _onednn_section(lines) -> tuple[tuple[str, ...], bool]:
    """The convolution implementations in one section of oneDNN's verbose lines, and whether any primitive ran."""
    convolutions, any_primitive = [], False
    for line in lines:
        fields = line.split(",")
        if len(fields) > 6 and fields[0] == "onednn_verbose" and "exec" in fields[2:4]:
            any_primitive = True
            at = fields.index("exec")
            kind, implementation = fields[at + 2], fields[at + 3]
            if kind in ("convolution", "deconvolution"):
                convolutions.append(f"{kind} {implementation} ({fields[at + 4]})")
    return tuple(convolutions), any_primitive


@functools.cache
def onednn_kernels(framework: str) -> dict[str, Kernel]:
    """{call name: Kernel} for every call of `framework` ("torch" or "tensorflow"), from one interpreter."""
    calls, control = (TORCH_CALLS, TORCH_CONTROL) if framework == "torch" else (TF_CALLS, TF_CONTROL)
    script = _ONEDNN_SCRIPT.format(imports=_IMPORTS[framework])
    try:
        done = subprocess.run(
            [sys.executable, "-c", script, json.dumps([control, calls])], capture_output=True, text=True,
            timeout=300, env={**os.environ, "ONEDNN_VERBOSE": "1"},
        )
    except subprocess.TimeoutExpired:
        return {name: Kernel(name, None, f"the {framework} probe did not finish in 300 s") for name in calls}
    sections, current = {}, None
    for line in done.stdout.splitlines():
        if line.startswith("@@probe "):
            current = line[len("@@probe "):]
            sections.setdefault(current, [])
        elif current is not None:
            sections[current].append(line)
    isa = next((line.split("isa:", 1)[1] for line in done.stdout.splitlines() if ",info,cpu,isa:" in line), "")
    _, verbose_works = _onednn_section(sections.get("control", []))
    found = {}
    for name in calls:
        if name not in sections:
            why = f"the probe's interpreter ended (exit {done.returncode}) before this call: {done.stderr[-300:]}"
            found[name] = Kernel(name, None, why)
        elif not verbose_works:
            found[name] = Kernel(name, None, f"{framework} printed no oneDNN verbose lines for a call that always uses oneDNN")
        else:
            runs, _ = _onednn_section(sections[name])
            what = f"oneDNN ran {', '.join(runs)} (ISA: {isa or 'not printed'})" if runs else "no oneDNN convolution ran"
            found[name] = Kernel(name, runs, f"{framework} {name}: {what} (ONEDNN_VERBOSE)", isa)
    return found


def torch_kernel(call: str) -> Kernel:
    return onednn_kernels("torch")[call]


def tf_kernel(call: str) -> Kernel:
    return onednn_kernels("tensorflow")[call]


# --- XLA: jax -------------------------------------------------------------------------------------------------

_XLA_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import jax
    jax.config.update("jax_enable_x64", True)
    calls = json.loads(sys.argv[1])
    for index, (dtype, size, kernel, stride) in enumerate(calls.values()):
        def probe(x, w):
            return jax.lax.conv_transpose(x, w, (stride,), "VALID", dimension_numbers=("NCH", "OIH", "NCH"),
                                          transpose_kernel=True)
        probe.__name__ = f"probe_{index}"
        x, w = np.ones((1, 1, size), dtype), np.ones((1, 1, kernel), dtype)
        jax.jit(probe).lower(jax.numpy.asarray(x), jax.numpy.asarray(w)).compile()
    """
)


@functools.cache
def xla_kernels() -> dict[str, Kernel]:
    """{call name: Kernel} for every call of JAX_CALLS: how XLA's CPU compiler emits its convolution."""
    with tempfile.TemporaryDirectory(prefix="convt-xla-dump-") as folder:
        env = {**os.environ, "XLA_FLAGS": f"{os.environ.get('XLA_FLAGS', '')} --xla_dump_to={folder}".strip()}
        try:
            done = subprocess.run([sys.executable, "-c", _XLA_SCRIPT, json.dumps(JAX_CALLS)], capture_output=True,
                                  text=True, timeout=300, env=env)
        except subprocess.TimeoutExpired:
            return {name: Kernel(name, None, "the jax probe did not finish in 300 s") for name in JAX_CALLS}
        files = os.listdir(folder)
    found = {}
    for index, name in enumerate(JAX_CALLS):
        module = [f for f in files if f".jit_probe_{index}." in f]
        if done.returncode != 0 or not module:
            found[name] = Kernel(name, None, f"XLA dumped nothing for the call (exit {done.returncode}): {done.stderr[-300:]}")
        elif any("convolution" in f and "elemental_kernel" in f for f in module):
            found[name] = Kernel(name, ("elemental loop",), f"jax {name}: XLA emits the convolution as its own loop (--xla_dump_to)")
        else:
            found[name] = Kernel(name, ("runtime convolution",), f"jax {name}: XLA runs its runtime convolution (--xla_dump_to)")
    return found


def jax_kernel(call: str) -> Kernel:
    return xla_kernels()[call]


# --- which convolutions TensorFlow's CPU kernels take here -------------------------------------------------------


@functools.cache
def tf_refuses(dtype: str, *, dilated: bool = False, grouped: bool = False, rank: int = 2) -> str | None:
    """TensorFlow's own message where its CPU kernels refuse a dilated or grouped transposed convolution in
    `dtype` here (they take them only where oneDNN runs them), else None. Asked with a direct call."""
    import tensorflow as tf

    groups, dilation = (2 if grouped else 1), (2 if dilated else 1)
    x = tf.ones((1, *(2,) * rank, 2), dtype)
    w = tf.ones((*(2,) * rank, 2 // groups, 2), dtype)
    size = 2 + dilation
    op = {1: tf.nn.conv1d_transpose, 2: tf.nn.conv2d_transpose, 3: tf.nn.conv3d_transpose}[rank]
    try:
        op(x, w, [1, *(size,) * rank, 2], 1, "VALID", dilations=dilation)
    except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError, ValueError) as error:
        return str(error).strip().splitlines()[0].split("}}")[-1].strip()  # without TF's "{{function_node ...}}"
    return None


# --- verdicts: does the kernel a finding was seen in run here? -----------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """Whether a finding's kernel runs here: True (it does: the finding is an expected failure), False
    (another kernel runs: the test is an ordinary test of the right answer), None (cannot be told: skipped).
    `detail` says what the probe found."""

    applies: bool | None
    detail: str


def onednn_runs(kernel: Kernel, isa: str = "") -> Verdict:
    """The finding is oneDNN's (in a kernel dispatched to an ISA whose oneDNN name contains `isa`, if given)."""
    if kernel.onednn is None:
        return Verdict(None, kernel.detail)
    return Verdict(kernel.onednn and isa in kernel.isa, kernel.detail)


def onednn_does_not_run(kernel: Kernel) -> Verdict:
    """The finding is the framework's own kernel's: it applies where oneDNN does not run the call."""
    if kernel.onednn is None:
        return Verdict(None, kernel.detail)
    return Verdict(not kernel.onednn, kernel.detail)


def xla_runtime_convolution(kernel: Kernel) -> Verdict:
    """The finding is XLA's runtime convolution's (not the loop XLA emits itself)."""
    if kernel.runs is None:
        return Verdict(None, kernel.detail)
    return Verdict(kernel.runs == ("runtime convolution",), kernel.detail)

"""Reproducers (oracle/harness/reproducers.py): the standalone snippet of a shrunk failure, run in a fresh
interpreter; Result.reproducer for a function of a script's `__main__` and for a lambda; the pytest plugin's
printing of it."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

from convt_oracle import compare as C
from convt_oracle.cases import suites
from convt_oracle.cases.model import make_case
from convt_oracle.harness.crosscheck import check_case, crosscheck
from convt_oracle.harness.reproducers import SourceUnavailable, snippet
from convt_oracle.harness.shrink import diagnosis_name, shrink
from support import targets as T
from test_shrink import grad_bias_doubled, no_bigger

pytest_plugins = ["pytester"]

TESTS = os.path.dirname(os.path.abspath(__file__))


def run_python(code: str, cwd=None) -> subprocess.CompletedProcess:
    """`code` run by a fresh interpreter, with tests/ on its path (for support.targets)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [TESTS, os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def shrunk_failure(mutant: str):
    """(the default suite's first failing case of the mutant, its shrunk form)."""
    name = f"support.targets:{mutant}"
    failing = crosscheck(name, suite="default", max_cases=120).discrepancies[0]
    return failing, shrink(name, failing.case, outcome=failing.outcome, diagnosis=diagnosis_name(failing))


# --- the standalone snippet on the wrong targets --------------------------------------------------------


@pytest.mark.parametrize("mutant", ["output_padding_at_start", "bias_twice", "crop_ends_swapped"])
def test_the_snippet_of_a_shrunk_failure_fails_and_passes_with_the_right_target(mutant):
    failing, shrunk = shrunk_failure(mutant)
    assert no_bigger(shrunk.case, failing.case) and shrunk.result.outcome == failing.outcome
    text = snippet(f"support.targets:{mutant}", shrunk.case)
    assert "convt_oracle" not in text and f"from support.targets import {mutant}\n" in text
    ast.parse(text)
    wrong = run_python(text)
    assert wrong.returncode == 1 and "AssertionError: result: " in wrong.stderr, wrong.stderr
    assert "elements wrong" in wrong.stderr
    right = run_python(text.replace(mutant, "lax_reference"))
    assert right.returncode == 0, right.stderr
    assert right.stdout.strip() == "OK: support.targets:lax_reference is right"


def test_the_snippet_of_a_case_not_shrunk_wraps_its_literals_and_still_runs():
    failing, _ = shrunk_failure("bias_twice")
    text = snippet(T.bias_twice, failing.case)
    assert max(len(line) for line in text.splitlines() if not line.startswith("# ")) <= 110
    assert run_python(text).returncode == 1
    assert run_python(text.replace("bias_twice", "lax_reference")).returncode == 0


def _verdict(text: str) -> bool:
    """Whether a snippet passes, run here (exec: standalone code, imported modules are cached)."""
    try:
        exec(compile(text, "<snippet>", "exec"), {})
    except AssertionError:
        return False
    return True


AGREEMENT_CASES = [
    *[c for c in suites.expand(suites.get("default"), ("float32", "float16", "bfloat16")) if c.values != "normal"
      and c.valid][:40],
    *suites.expand(suites.get("default"), ("float16",))[:20],
]


@pytest.mark.parametrize("target", ["lax_reference", "nonfinite_inputs_zeroed", "nan_output_zeroed",
                                    "accumulate_in_input_dtype", "bias_only_where_reached"])
def test_the_snippet_agrees_with_the_comparison(target, capsys):
    """Overflowing (`large`), non-finite and float16 cases: the snippet fails exactly where compare does."""
    function = getattr(T, target)
    disagree = []
    with np.errstate(all="ignore"):
        for case in AGREEMENT_CASES:
            result = check_case(function, case, target)
            if result.outcome not in (C.PASS, C.VALUE_MISMATCH, C.NONFINITE_MISMATCH):
                continue
            if _verdict(snippet(function, case)) != result.ok:
                disagree.append(f"{case.id}: {result.outcome}")
    assert not disagree
    assert target != "lax_reference" or "OK: " in capsys.readouterr().out


# --- adapters: native_source, and the vjp through convt_oracle -------------------------------------------

torch_adapter = pytest.importorskip("convt_oracle.adapters.torch")


class TorchWithSource(torch_adapter.TorchAdapter):
    """torch's adapter with a native_source as Adapter.native_source's contract says (explicit mode)."""

    def native_source(self, case):
        padding, output_padding = self.torch_padding(case)
        dtype = {"float16": "torch.float16", "bfloat16": "torch.bfloat16", "float32": "torch.float32",
                 "float64": "torch.float64"}[case.dtype]
        return textwrap.dedent(f"""\
            import torch
            tensors = [None if a is None else torch.from_numpy(a).to({dtype}) for a in (x, w, bias)]
            out = torch.nn.functional.conv_transpose{case.spatial_rank}d(
                *tensors, stride={case.stride}, padding={padding}, output_padding={output_padding},
                groups={case.groups}, dilation={case.dilation})
            actual = out.to(torch.float64).numpy()
            """)


class TorchBiasTwice(TorchWithSource):
    """WRONG: torch, with the bias added once more (in its run and in its native source alike)."""

    name = "torch-bias-twice"

    def run(self, case, x, w, bias):
        out = super().run(case, x, w, bias)
        return out if bias is None else (out + bias.reshape(-1, *[1] * case.spatial_rank)).astype(out.dtype)

    def native_source(self, case):
        return super().native_source(case) + "actual = actual if bias is None else actual + bias.reshape(-1, 1)\n"


@pytest.mark.framework("torch")
def test_an_adapter_snippet_makes_the_framework_call_without_convt_oracle():
    case = make_case(input_size=5, kernel_size=3, stride=2, padding=1, output_padding=1, in_channels=4,
                     out_channels=6, groups=2, batch=2, bias=True, dtype="float32", seed=3)
    wrong = TorchBiasTwice()
    failing = check_case(wrong, case, wrong.name)
    assert failing.outcome == C.VALUE_MISMATCH
    shrunk = shrink(wrong, case, outcome=failing.outcome, diagnosis=diagnosis_name(failing))
    assert shrunk.case.bias and shrunk.case.out_channels == 1 and no_bigger(shrunk.case, case)
    text = snippet(wrong, shrunk.case)
    assert "convt_oracle" not in text and "torch.nn.functional.conv_transpose1d(" in text
    ran = run_python(text)
    assert ran.returncode == 1 and "AssertionError: result: " in ran.stderr, ran.stderr
    right = run_python(snippet(TorchWithSource(), case))
    assert right.returncode == 0 and right.stdout.startswith("OK: torch is right"), right.stderr


@pytest.mark.framework("torch")
def test_an_adapter_vjp_goes_through_convt_oracle_and_says_so():
    case = make_case(input_size=4, kernel_size=2, stride=2, in_channels=2, out_channels=2, bias=True,
                     dtype="float32", seed=4)
    text = snippet(TorchWithSource(), case, check="vjp")
    assert "native_source covers the forward call only" in text and "import convt_oracle" in text
    assert "target.vjp_case(case, " in text and "expected_grad_bias = " in text
    ran = run_python(text)
    assert ran.returncode == 0, ran.stderr


def test_a_function_vjp_snippet_checks_each_gradient():
    case = make_case(input_size=4, kernel_size=2, in_channels=2, out_channels=2, bias=True, dtype="float32", seed=8)
    text = snippet(grad_bias_doubled, case, check="vjp")
    assert "from test_shrink import grad_bias_doubled" in text and "convt_oracle" not in text
    wrong = run_python(text)
    assert wrong.returncode == 1 and "AssertionError: grad_bias: " in wrong.stderr, wrong.stderr
    right = text.replace("from test_shrink import grad_bias_doubled",
                         "from support.crashy_targets import correct as grad_bias_doubled")
    assert run_python(right).returncode == 0


def test_an_invalid_case_asserts_a_rejection():
    case = make_case(input_size=2, kernel_size=2, padding=3, dtype="float32", seed=1)
    assert not case.valid
    lenient = run_python(snippet(T.crop_ends_swapped, case).replace("crop_ends_swapped", "lax_reference"))
    assert lenient.returncode == 0 and "OK: rejected, as it should be" in lenient.stdout


# --- functions of __main__ and lambdas ------------------------------------------------------------------

SCRIPT = '''
import numpy as np
import convt_oracle
from convt_oracle.cases.model import make_case
from convt_oracle.harness.reproducers import snippet
from convt_oracle.harness.shrink import diagnosis_name, shrink

SCALE = 2.0
x = w = np.ones((1, 1, 2))  # globals of the same names as the function's parameters: not written out


def scaled(out):
    return out * SCALE


def my_ct(x, w, bias=None, **params):
    return scaled(convt_oracle.conv_transpose(x, w, bias, **params)).astype(x.dtype)


no_bias = lambda x, w, bias=None, **params: convt_oracle.conv_transpose(x, w, None, **params).astype(x.dtype)

case = make_case(input_size=(3, 2), kernel_size=2, in_channels=2, out_channels=2, bias=True, seed=3)
for target in (my_ct, no_bias):
    result = convt_oracle.crosscheck(target, suite=[case]).discrepancies[0]
    print("=== reproducer")
    print(result.reproducer())
    print("=== snippet")
    small = shrink(target, result.case, outcome=result.outcome, diagnosis=diagnosis_name(result)).case
    print(snippet(target, small))
'''


def blocks(output: str) -> list[tuple[str, str]]:
    """(kind, code) of each block the script printed after a '=== kind' line."""
    found = []
    for part in output.split("=== ")[1:]:
        kind, _, code = part.partition("\n")
        found.append((kind, code))
    return found


def test_a_function_of_a_script_and_a_lambda_get_reproducers_that_run_standalone(tmp_path):
    script = tmp_path / "mine.py"
    script.write_text(SCRIPT)
    ran = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert ran.returncode == 0 and "SourceUnavailable" not in ran.stderr, ran.stderr
    printed = blocks(ran.stdout)
    assert [kind for kind, _ in printed] == ["reproducer", "snippet"] * 2
    (_, my_reproducer), (_, my_snippet), (_, lambda_reproducer), (_, lambda_snippet) = printed
    for code in (my_reproducer, my_snippet):
        assert "def my_ct(x, w, bias=None, **params):" in code and "SCALE = 2.0" in code and "def scaled(out):" in code
    assert "crosscheck_target('__main__" not in my_reproducer and "target = my_ct" in my_reproducer
    for code in (lambda_reproducer, lambda_snippet):
        assert "target = (lambda x, w, bias=None, **params: convt_oracle.conv_transpose(x, w, None, **params)" in code
    for code in (my_reproducer, my_snippet, lambda_reproducer, lambda_snippet):
        assert code.splitlines()[0].strip() == code.splitlines()[0]
        failed = run_python(code, cwd=tmp_path)
        assert failed.returncode == 1 and "AssertionError" in failed.stderr, (code, failed.stderr)
    assert run_python(my_reproducer.replace("SCALE = 2.0", "SCALE = 1.0"), cwd=tmp_path).returncode == 0
    assert run_python(my_snippet.replace("SCALE = 2.0", "SCALE = 1.0"), cwd=tmp_path).returncode == 0


def test_a_lambda_crosschecked_here_is_embedded_and_two_under_one_name_are_not_guessed():
    case = make_case(input_size=3, kernel_size=2, bias=True, dtype="float32", seed=2)
    first = lambda x, w, bias=None, **params: T.lax_reference(x, w, None, **params)  # noqa: E731
    result = crosscheck(first, suite=[case], dtypes=("float32",)).discrepancies[0]
    code = result.reproducer()
    assert "target = (lambda x, w, bias=None, **params: T.lax_reference(x, w, None, **params))" in code
    assert "import support.targets as T" in code
    failed = run_python(code)
    assert failed.returncode == 1 and "conv_transpose result is not close (value_mismatch)" in failed.stderr
    second = lambda x, w, bias=None, **params: T.bias_twice(x, w, bias, **params)  # noqa: E731
    crosscheck(second, suite=[case], dtypes=("float32",))  # another lambda under the same name
    with pytest.warns(SourceUnavailable, match="cannot include the source of .*<lambda>"):
        unknown = result.reproducer()
    assert "# The source of the target " in unknown and "T.lax_reference" not in unknown
    ast.parse(unknown)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert "T.lax_reference(x, w, None" in result.reproducer(function=first)


def test_a_function_without_source_gets_a_comment_and_a_warning():
    namespace = {"__name__": "__main__", "np": np}
    exec("def made(x, w, bias=None, **params):\n    return np.zeros((1, 1, 4), x.dtype)\n", namespace)
    made = namespace["made"]
    case = make_case(input_size=3, kernel_size=2, dtype="float32", seed=2)
    with pytest.warns(SourceUnavailable, match=r"cannot include the source of __main__:made"):
        text = snippet(made, case)
    assert "# The source of the target __main__:made is not available here" in text and "actual = made(" in text
    ast.parse(text)
    result = check_case(made, case, "__main__:made")
    with pytest.warns(SourceUnavailable):
        assert "# define made before running this." in result.reproducer(function=made)


def test_bad_arguments_are_value_errors_naming_them():
    case = make_case(input_size=3, kernel_size=2, dtype="float32", seed=2)
    with pytest.raises(ValueError, match=r"^check: got 'backward'; expected one of 'forward', 'vjp'"):
        snippet(T.lax_reference, case, check="backward")
    with pytest.raises(ValueError, match=r"^case: .*expected a Case with a dtype"):
        snippet(T.lax_reference, case.with_dtype(None))


# --- the pytest plugin prints it unindented --------------------------------------------------------------

WRONG_TARGET = """
import convt_oracle

def conv_transpose(x, w, bias=None, **params):
    return (convt_oracle.conv_transpose(x, w, bias, **params) * 2).astype(x.dtype)
"""
LAMBDA_TEST = """
import convt_oracle

doubled = lambda x, w, bias=None, **params: (convt_oracle.conv_transpose(x, w, bias, **params) * 2).astype(x.dtype)

def test_check(convt_case, convt_check):
    convt_check(convt_case, doubled)
"""
CHECK_TEST = """
def test_check(convt_case, convt_target, convt_check):
    convt_check(convt_case, convt_target)
"""


def printed_reproducers(lines: list[str]) -> list[str]:
    """The blocks after each 'To reproduce, run:' line of the failure reports, up to a blank line or pytest's next
    section. The short test summary is left out: where CI is set, pytest writes each message there again, whole."""
    summary = [i for i, line in enumerate(lines) if re.fullmatch(r"=+ short test summary info =+", line)]
    lines = lines[:summary[0]] if summary else lines
    found = []
    for start in [i for i, line in enumerate(lines) if line == "To reproduce, run:"]:
        block = []
        for line in lines[start + 1:]:
            if not line.strip() or re.fullmatch(r"_+ .* _+|=+.*=+", line):  # pytest's next section
                break
            block.append(line)
        found.append("\n".join(block))
    return found


@pytest.mark.parametrize("files, args", [
    ({"wrongtarget": WRONG_TARGET, "test_wrong": CHECK_TEST}, ["--convt-targets", "wrongtarget:conv_transpose"]),
    ({"test_lambda": LAMBDA_TEST}, []),
])
def test_the_plugin_prints_a_reproducer_that_pastes(pytester, files, args):
    pytester.makepyfile(**files)
    result = pytester.runpytest("--convt-suite", "article", *args)
    result.assert_outcomes(failed=3)
    found = printed_reproducers(result.outlines)
    assert len(found) == 3
    for code in found:
        assert code.splitlines()[0] == "import convt_oracle"
        ast.parse(code)  # no IndentationError: it pastes as printed
        ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=pytester.path,
                             timeout=300)
        assert ran.returncode == 1 and "conv_transpose result is not close (value_mismatch)" in ran.stderr, ran.stderr
    if not args:
        assert "doubled = " not in found[0] and "target = (lambda x, w, bias=None, **params:" in found[0]

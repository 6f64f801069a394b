"""Reproducers: Python a user pastes to run one case again on one target.

`snippet(target, case)` writes a standalone script: numpy, the case's data as literals (float64, exact),
the target's call, the right answer as literals (the golden's value and the bound on |actual - expected|,
computed now by convt_oracle.compare.expect) and an assertion that fails saying what is wrong. It imports
no convt_oracle, except where the target's own code does and where a call has no native source (below):

- an adapter with `native_source(case)` (source that, given `np`, `x`, `w`, `bias` as float64 arrays in
  convt_oracle's layout, imports the framework, makes its native call and assigns `actual`, float64 in
  (batch, Cout, *spatial)): that source. Its dtype is the framework's business, so the snippet checks the
  shape and the values, not the dtype.
- a vjp of an adapter, or an adapter without native_source: native_source covers the forward call only, so
  the call goes through convt_oracle (`crosscheck_target(name).vjp_case(case, ...)`, the call a run makes),
  said in a comment; the data, the answer and the assertion stay literals.
- a function with the golden's signature (and a `vjp` attribute for a vjp): `from module import name` where
  it is importable by module and qualname; otherwise (defined in `__main__`, a script or a notebook, a
  lambda, a closure) its source (inspect.getsource; a lambda's expression taken from its line), preceded by
  what it uses of its module's globals (imports, literal constants, other functions of `__main__`). Where
  the source cannot be had (an interactive prompt, exec) the snippet says so in a comment, and a
  SourceUnavailable warning is issued. The call passes the arrays in the case's dtype (bfloat16 through
  ml_dtypes) and the parameters as literals; the result must be a numpy array of that dtype. A function
  called with a framework's arrays or into out= (convt_oracle.harness.arrays.ArrayTarget) is called so:
  `to_array` / `to_numpy` written out for its kind and device, and a NaN-prefilled `out` buffer.

The check mirrors convt_oracle.compare's rules (one reading of them, written out): shape, then dtype, then
where the expected value is finite |actual - expected| <= bound, where it is not (NaN, inf, or certainly
beyond the dtype's range) the same NaN or infinity; an infinity that compare accepts besides (a result
that may overflow, an accumulation that may) is listed in `also`. The bound is written per element, or as
one number where the bounds lie within a factor BOUND_SPREAD of each other: then the smallest of them, so
that the snippet is never more lenient than the oracle. Bounds are rounded down to 3 significant digits.

`result_reproducer(result, function)` is Result.reproducer's text: convt_oracle replays the case by its
dict (`crosscheck_target(name)` for adapters and importable functions); for a function that cannot be
imported by its name (`__main__:my_ct`, a lambda) its source is embedded instead. crosscheck records such
a callable (`remember`) so that the reproducer of its results finds it, and how it called the target
(array, device, out=), which the reproducer repeats through ArrayTarget.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import linecache
import math
import sys
import textwrap
import warnings

import numpy as np

from convt_oracle import compare as C
from convt_oracle.tolerance import OVERFLOW_THRESHOLD

CHECKS = ("forward", "vjp")
BOUND_SPREAD = 1.5  # the bounds written as one number where max <= BOUND_SPREAD * min
LINE_WIDTH = 100
_DTYPE = {"float16": "np.float16", "float32": "np.float32", "float64": "np.float64", "bfloat16": "ml_dtypes.bfloat16"}


class SourceUnavailable(UserWarning):
    """A reproducer could not include a function's source: it must be defined by hand before running."""


# --- Result.reproducer ----------------------------------------------------------------------------------


def result_reproducer(result, function=None) -> str:
    """Result.reproducer's text (convt_oracle replays the case): the target by name where it can be imported by
    it, else the function's source (`function`, else what crosscheck remembered, else `__main__`'s name)."""
    calling = _CALLING.get(result.target) if function is None else None
    if _array_target(function):  # called with other arrays or out=: the reproducer calls it the same way
        function, calling = function.function, function.calling
    definition, target = [], f"convt_oracle.crosscheck_target({result.target!r})"
    if (function is not None and _importable(function) is None) or (function is None and _needs_source(result.target)):
        function = function if function is not None else _found(result.target)
        if function is None:
            definition = _unavailable(result.target, "it is not importable by name and this process does not hold it")
            target = _name_in(result.target)
        else:
            definition, target = _definition(function, result.target)
    call = (
        "if hasattr(target, 'call_case'):  # an adapter\n"
        "    actual = target.call_case(case, x, w, bias)\n"
        "else:\n"
        "    actual = target(x, w, bias, **case.params())\n"
        "convt_oracle.assert_conv_transpose_close(actual, x, w, bias, exact=case.exact, **case.params())"
    )
    if result.check == "vjp":
        call = (
            "from convt_oracle.compare import compare, expect_vjp\n"
            "grad_out = case.cotangent()\n"
            "if hasattr(target, 'vjp_case'):  # an adapter\n"
            "    actual = target.vjp_case(case, x, w, grad_out, bias)\n"
            "else:\n"
            "    actual = target.vjp(x, w, grad_out, bias, **case.params())\n"
            "expected = expect_vjp(x, w, grad_out, bias, case.params(), case.dtype, exact=case.exact)\n"
            "for name, got, want in zip(('grad_x', 'grad_w', 'grad_bias'), actual, expected):\n"
            "    result = None if want is None else compare(got, want)\n"
            "    assert result is None or result.ok, f'{name}: {result.outcome}\\n{result.message}'"
        )
    header = ["import convt_oracle", "from convt_oracle.cases.model import Case"]
    return "\n".join([
        *header,
        *(line for line in definition if line not in header),
        *([f"target = {target}"] if target != "target" else []),
        *_calling_lines(calling),
        f"case = Case.from_dict({result.case.to_dict()!r})",
        "x, w, bias = case.arrays()",
        call,
    ])


_REMEMBERED: dict = {}
_AMBIGUOUS = object()  # two different functions ran under one name: neither is embedded
_CALLING: dict = {}  # target name -> how crosscheck last called it with other arrays or out= (ArrayTarget.calling)


def remember(name: str, target, *, calling: dict | None = None) -> None:
    """Keep a callable target that cannot be imported by its name (a function of `__main__`, a lambda, a
    closure), so that the reproducer of a result named `name` can embed its source. Two different
    functions under one name (two lambdas of one module) make the name ambiguous: then neither is used.
    The callables stay referenced for the process's life (one per such name). `calling`: how the target
    was called (array, device, out: convt_oracle.harness.arrays), None for numpy arrays on the CPU; the
    reproducer of a result named `name` calls it so (the latest crosscheck under that name decides)."""
    if calling:
        _CALLING[name] = dict(calling)
    else:
        _CALLING.pop(name, None)
    if not _needs_source(name) or isinstance(target, str) or not callable(target):
        return
    known = _REMEMBERED.get(name)
    if known is None or known is target or (known is not _AMBIGUOUS and _same_code(known, target)):
        _REMEMBERED[name] = target
    else:
        _REMEMBERED[name] = _AMBIGUOUS


def _same_code(a, b) -> bool:
    """The same source code (a notebook cell or a script run again): same file, line and bytecode."""
    ca, cb = getattr(a, "__code__", None), getattr(b, "__code__", None)
    return ca is not None and cb is not None and (ca.co_filename, ca.co_firstlineno, ca.co_code) == (
        cb.co_filename, cb.co_firstlineno, cb.co_code)


def _array_target(function) -> bool:
    """Whether `function` is a convt_oracle.harness.arrays.ArrayTarget (a target called with other arrays or out=)."""
    arrays = sys.modules.get("convt_oracle.harness.arrays")
    return arrays is not None and isinstance(function, arrays.ArrayTarget)


def _calling_lines(calling: dict | None) -> list[str]:
    """The lines that wrap `target` so that it is called as crosscheck called it (other arrays, out=)."""
    if not calling:
        return []
    arguments = ", ".join(f"{key}={value!r}" for key, value in calling.items())
    return ["from convt_oracle.harness.arrays import ArrayTarget",
            f"target = ArrayTarget(target, {arguments})  # as crosscheck called it"]


def _needs_source(name: str) -> bool:
    """Whether a target named so cannot be loaded by its name in a new process."""
    return name.startswith("__main__:") or "<" in name


def _found(name: str):
    """The callable behind a target name that needs its source: remembered, or `__main__`'s attribute."""
    found = _REMEMBERED.get(name)
    if found is _AMBIGUOUS:
        return None
    if found is None and name.startswith("__main__:") and "<" not in name:
        found = sys.modules.get("__main__")
        for part in name.partition(":")[2].split("."):
            found = getattr(found, part, None)
    return found if callable(found) else None


def _name_in(name: str) -> str:
    """The Python name a target's name ends with ('__main__:my_ct' -> 'my_ct'), or '...' for a lambda."""
    last = name.rpartition(":")[2].rpartition(".")[2]
    return last if last.isidentifier() else "..."


# --- the function's definition ----------------------------------------------------------------------------


def _importable(function) -> tuple[str, str] | None:
    """(module, qualname) where `function` is found again by importing its module and following its qualname
    (not `__main__`, not a lambda or closure); None otherwise."""
    module_name = getattr(function, "__module__", None)
    qualname = getattr(function, "__qualname__", None) or getattr(function, "__name__", None)
    if not module_name or module_name == "__main__" or not isinstance(qualname, str) or "<" in qualname:
        return None
    try:
        found = importlib.import_module(module_name)
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError):
        return None
    return (module_name, qualname) if found is function else None


def _definition(function, label: str) -> tuple[list[str], str]:
    """(lines that define `function` in a fresh script, the expression that names it there)."""
    imported = _importable(function)
    if imported is not None:
        module, qualname = imported
        return [f"from {module} import {qualname.split('.')[0]}"], qualname
    cls = type(function)
    if not inspect.isroutine(function) and _importable(cls) is not None:  # an instance, as "module:Class()" makes
        module, qualname = _importable(cls)
        return ([f"from {module} import {qualname.split('.')[0]}",
                 f"# an instance of {qualname} made with no arguments, as 'module:Class()' makes one"], f"{qualname}()")
    target = inspect.unwrap(function) if inspect.isroutine(function) else function
    try:
        if getattr(target, "__name__", "") == "<lambda>":
            source, tree = _lambda_source(target)
            return [*_dependencies(target, tree, set()), f"target = ({source})"], "target"
        source = textwrap.dedent(inspect.getsource(target))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError, ValueError) as error:
        return _unavailable(label, str(error) or type(error).__name__), _name_in(label)
    return [*_dependencies(target, tree, {target.__name__}), source.rstrip()], target.__name__


def _unavailable(label: str, why: str) -> list[str]:
    warnings.warn(
        f"the reproducer cannot include the source of {label} ({why}): define it by hand before running it",
        SourceUnavailable, stacklevel=3,
    )
    return [f"# The source of the target {label} is not available here ({why}):",
            f"# define {_name_in(label)} before running this."]


def _lambda_source(function) -> tuple[str, ast.AST]:
    """The text of a lambda's expression, from the file (or notebook cell) it was written in; ValueError where
    its line holds no single lambda with its arguments."""
    code = function.__code__
    text = "".join(linecache.getlines(code.co_filename))
    if not text:
        raise OSError("no source file")
    module = ast.parse(text)
    names = list(code.co_varnames[: code.co_argcount + code.co_kwonlyargcount])
    found = [
        node for node in ast.walk(module)
        if isinstance(node, ast.Lambda) and node.lineno == code.co_firstlineno
        and [a.arg for a in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs)] == names
    ]
    if len(found) != 1:
        raise ValueError(f"{len(found)} lambdas with its arguments on line {code.co_firstlineno}")
    return ast.get_source_segment(text, found[0]), found[0]


def _dependencies(function, tree: ast.AST, seen: set) -> list[str]:
    """Lines defining what `function`'s source uses of its module's globals (and of its closure): imports of
    modules and of importable objects, literal constants, other functions of the same script (with their
    own). What cannot be written so gets a comment and a SourceUnavailable warning."""
    used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}
    used -= _locals(function.__code__) if hasattr(function, "__code__") else set()  # its parameters and variables
    namespace = dict(getattr(function, "__globals__", {}))
    namespace.update(inspect.getclosurevars(function).nonlocals if inspect.isfunction(function) else {})
    lines = []
    for name in sorted(used - seen):
        if name not in namespace or (name in vars(builtins) and namespace[name] is vars(builtins)[name]):
            continue
        seen.add(name)
        value = namespace[name]
        if inspect.ismodule(value):
            lines.append(f"import {value.__name__}" + ("" if name == value.__name__ else f" as {name}"))
        elif _importable(value) is not None and "." not in _importable(value)[1]:
            module, qualname = _importable(value)
            lines.append(f"from {module} import {qualname}" + ("" if name == qualname else f" as {name}"))
        elif _literal(value):
            lines.append(f"{name} = {value!r}")
        elif inspect.isfunction(value) and value.__name__ == name and "<" not in value.__qualname__:
            try:  # a helper of the same script
                source = textwrap.dedent(inspect.getsource(value))
                lines += [*_dependencies(value, ast.parse(source), seen), source.rstrip()]
            except (OSError, TypeError, SyntaxError) as error:
                lines += _unavailable(f"{name} (used by the target)", str(error))
        else:
            warnings.warn(f"the reproducer cannot write {name} ({type(value).__name__}), which the target uses: "
                          f"define it by hand", SourceUnavailable, stacklevel=3)
            lines.append(f"# {name}: a {type(value).__name__} the target uses, not written here: define it.")
    return list(dict.fromkeys(lines))


def _locals(code) -> set:
    """The names a code object and those nested in it bind locally (parameters, variables)."""
    names = set(code.co_varnames) | set(code.co_cellvars)
    for const in code.co_consts:
        if inspect.iscode(const):
            names |= _locals(const)
    return names


def _literal(value) -> bool:
    """Whether repr(value) is a literal that reads back as the same value."""
    if not isinstance(value, (int, float, complex, str, bytes, bool, type(None), tuple, list, dict, set, frozenset)):
        return False
    try:
        return ast.literal_eval(repr(value)) == value
    except (ValueError, SyntaxError, TypeError, RecursionError):
        return False


# --- the standalone snippet -------------------------------------------------------------------------------


def snippet(target, case, *, check: str = "forward", tolerance=None, name: str | None = None) -> str:
    """A standalone script that runs `case` on `target` and asserts the right answer (module docstring).

    `target`: a callable with the golden's signature, an adapter, an IsolatedTarget, or a target name.
    `check`: "forward" or "vjp". An invalid case (accepted_invalid) asserts that the call raises. `name`: how
    the script names the target (default: its name, e.g. a run's label). A target under another interpreter
    (NAME@PYTHON, or its worker) has its framework's call written there: that version's own spelling.
    """
    from convt_oracle.cases.model import Case

    if check not in CHECKS:
        raise ValueError(f"check: got {check!r}; expected one of {', '.join(map(repr, CHECKS))}")
    if not isinstance(case, Case) or case.dtype is None:
        raise ValueError(f"case: got {case!r}; expected a Case with a dtype (case.with_dtype(...))")
    if check == "vjp" and not case.valid:
        raise ValueError(f"case: {case.id} is invalid ({case.reason}); a vjp is checked on valid cases only")
    local, own_name, python = _local(target)
    name = name or own_name
    adapter = hasattr(local, "call_case")
    native = adapter and check == "forward" and callable(getattr(local, "native_source", None))
    x, w, bias = case.arrays()
    lines = [f"# convt-oracle reproducer{'' if check == 'forward' else ' of the vjp'} on {name}, case", f"# {case.id}"]
    if python is not None:
        lines.append(f"# run it with {python}, the interpreter the target ran under")
    lines.append("import numpy as np")
    if case.dtype == "bfloat16" and not native:
        lines.append("import ml_dtypes")
    lines += ["", "# the case's data (float64, exactly the values it ran with)"]
    lines += [_array_line("x", x), _array_line("w", w), _array_line("bias", bias)]
    if check == "vjp":
        lines.append(_array_line("grad_out", case.cotangent()))
    lines.append("")
    if native:
        lines.append(f"# {name}'s own call, as convt-oracle makes it for this case (assigns `actual`, float64)")
        call = _native_source(target, local, case, python).strip("\n").splitlines()
        results = [("result", "actual", None)]
    elif adapter:
        call, results = _through_convt_oracle(case, name, check)
    else:
        call, results = _function_call(local, name, case, check)
    if not case.valid:
        lines += _rejection(call, case)
        return "\n".join(lines) + "\n"
    lines += call
    lines += ["", f"# the right answer in {case.dtype}: the golden's value, and the bound on |actual - expected|"]
    if check == "forward":
        expectations = [C.expect(x, w, bias, case.params(), case.dtype, tolerance, exact=case.exact)]
    else:
        expectations = list(C.expect_vjp(x, w, case.cotangent(), bias, case.params(), case.dtype, tolerance,
                                          exact=case.exact))
    checks = []
    for (label, variable, dtype), expected in zip(results, expectations):
        if expected is None:
            continue  # no bias: no grad_bias
        suffix = "" if len(results) == 1 else f"_{label}"
        lines += _expectation_lines(expected, suffix)
        args = f"{label!r}, {variable}, expected{suffix}, bound{suffix}, also{suffix}"
        checks.append(f"check({args}{'' if dtype is None else f', dtype={dtype}'})")
    lines += ["", *_CHECK.splitlines(), "", *checks, f"print({'OK: ' + name + ' is right'!r})"]
    return "\n".join(lines) + "\n"


def _native_source(target, local, case, python) -> str:
    """The adapter's own call for `case`, written where the target runs: in this process, or in its worker
    under `python` (the target's worker, or one started for it), so that the version and spelling are that
    interpreter's framework's."""
    isolation = sys.modules.get("convt_oracle.harness.isolation")
    if isolation is not None and isinstance(target, isolation.IsolatedTarget) and callable(
            getattr(target, "native_source", None)):  # its worker writes it (Keras: the worker's backend)
        return target.native_source(case)
    if python is None:
        return local.native_source(case)
    from convt_oracle.harness.targets import TargetSpec

    worker = TargetSpec(local.name, python=python).isolated()
    try:
        return worker.native_source(case)
    finally:
        worker.close()


def _local(target):
    """(the object whose call the snippet writes, the target's name, the interpreter of a worker or None): a
    name or an IsolatedTarget is loaded in this process (an adapter's class, the function) without a worker."""
    from convt_oracle.harness.crosscheck import crosscheck_target, target_name

    name = target_name(target)
    python = None
    isolation = sys.modules.get("convt_oracle.harness.isolation")
    if isolation is not None and isinstance(target, isolation.IsolatedTarget):
        python = target.python if target.python != sys.executable else None
        return crosscheck_target(target.reference), name, python
    if isinstance(target, str):
        from convt_oracle.harness.targets import TargetSpec

        spec = TargetSpec.parse(target, where="target")
        return crosscheck_target(spec.name), name, spec.python
    return target, name, None


def _cast(variable: str, dtype: str) -> str:
    return f"{variable}.astype({_DTYPE[dtype]})"


def _arrays(case, names, convert: str = "") -> str:
    """The arrays of a call, in the case's dtype (bias may be None), each passed through `convert` if given."""
    def one(name):
        if name == "bias" and not case.bias:
            return "None"
        return f"{convert}({_cast(name, case.dtype)})" if convert else _cast(name, case.dtype)

    return ", ".join(one(n) for n in names)


def _params(case) -> str:
    """The keyword parameters of a call with the golden's signature, as literals."""
    return ", ".join(f"{key}={value!r}" for key, value in case.params().items())


def _function_call(function, name, case, check):
    wrapper = function if _array_target(function) else None  # called with other arrays or out=
    if wrapper is not None:
        function = wrapper.function
    definition, expression = _definition(function, name)
    lines = [f"# the target: {name}", *definition, ""]
    dtype = _DTYPE[case.dtype]
    convert = ""
    if wrapper is not None:
        calling = wrapper.calling
        lines += [f"# called with {calling['array']} arrays on {calling['device']}"
                  f"{' into out=' if calling['out'] else ''}, as crosscheck calls it (convt_oracle.harness.arrays)",
                  *wrapper.kind.source(wrapper.device), ""]
        convert = "to_array"
    if check == "forward":
        arrays = _arrays(case, ("x", "w", "bias"), convert)
        if wrapper is not None and wrapper.out:
            shape = tuple(int(n) for n in case.output_shape)
            lines += [
                "# out= prefilled with NaN: an element the kernel does not write stays NaN",
                f"out = to_array(np.full({shape!r}, np.nan, dtype={dtype}))",
                f"{expression}(", f"    {arrays},", f"    out=out, {_params(case)},", ")",
                "actual = to_numpy(out)",
            ]
        else:
            call = [f"{expression}(", f"    {arrays},", f"    {_params(case)},", ")"]
            if wrapper is not None:
                call = [f"to_numpy({call[0]}", *call[1:-1], "))"]
            lines += [f"actual = {call[0]}", *call[1:]]
        return lines, [("result", "actual", dtype)]
    arrays = _arrays(case, ("x", "w", "grad_out", "bias"), convert)
    lines += [f"grad_x, grad_w, grad_bias = {expression}.vjp(", f"    {arrays},", f"    {_params(case)},", ")"]
    if wrapper is not None:
        lines.append("grad_x, grad_w, grad_bias = (None if g is None else to_numpy(g) for g in (grad_x, grad_w, grad_bias))")
    return lines, [(g, g, dtype) for g in ("grad_x", "grad_w", "grad_bias")]


def _through_convt_oracle(case, name, check):
    """The call of an adapter that has no native source for it, made by convt_oracle as a run makes it."""
    why = "Adapter.native_source covers the forward call only" if check == "vjp" else "the adapter has no native_source"
    lines = [
        f"# {name}'s call goes through convt_oracle here ({why}): the framework call a run makes.",
        "import convt_oracle",
        "from convt_oracle.cases.model import Case",
        f"target = convt_oracle.crosscheck_target({name!r})",
        f"case = Case.from_dict({case.to_dict()!r})",
    ]
    dtype = _DTYPE[case.dtype]
    if check == "forward":
        lines.append(f"actual = target.call_case(case, {_arrays(case, ('x', 'w', 'bias'))})")
        return lines, [("result", "actual", dtype)]
    lines.append(f"grad_x, grad_w, grad_bias = target.vjp_case(case, {_arrays(case, ('x', 'w', 'grad_out', 'bias'))})")
    return lines, [(g, g, dtype) for g in ("grad_x", "grad_w", "grad_bias")]


def _rejection(call, case) -> list[str]:
    """The call of an invalid case, which must raise."""
    return [
        "try:",
        *textwrap.indent("\n".join(call), "    ").splitlines(),
        "except Exception as error:  # rejecting it is right",
        "    print(f'OK: rejected, as it should be: {error}')",
        "else:",
        f"    raise AssertionError({'the target returned a result for an invalid case: ' + case.reason!r})",
    ]


def _expectation_lines(expected: C.Expected, suffix: str) -> list[str]:
    """expected, bound and also (the other values accepted at some positions), as compare.compare reads them."""
    value, bound = expected.value, expected.bound
    threshold = OVERFLOW_THRESHOLD[expected.dtype]
    with np.errstate(invalid="ignore", over="ignore"):
        finite = np.isfinite(value)
        certain = finite & (np.abs(value) - bound >= threshold)  # must be the infinity of its sign
        maybe = finite & (np.abs(value) + bound >= threshold) & ~certain  # may be it
        special = np.where(certain, np.sign(value) * np.inf, value)
    also = {}
    for index in zip(*np.nonzero(maybe)):
        also.setdefault(tuple(int(i) for i in index), []).append(math.copysign(math.inf, value[index]))
    if expected.accumulation_overflow is not None:
        up, down = expected.accumulation_overflow
        for mask, accepted in ((up, math.inf), (down, -math.inf), (up & down, math.nan)):
            for index in zip(*np.nonzero(mask)):
                also.setdefault(tuple(int(i) for i in index), []).append(accepted)
    judged = np.isfinite(special)
    bounds = bound[judged]
    if bounds.size and np.isfinite(bounds).all() and bounds.max() <= BOUND_SPREAD * bounds.min():
        bound_text = _number(_round_down(float(bounds.min())))
    else:
        rounded = np.array([_round_down(float(b)) if j else 0.0 for b, j in zip(bound.reshape(-1), judged.reshape(-1))])
        bound_text = _array_literal(rounded.reshape(bound.shape))
    also_text = "{" + ", ".join(
        f"{index!r}: ({', '.join(_number(v) for v in dict.fromkeys(values))},)" for index, values in also.items()
    ) + "}"
    return [
        f"expected{suffix} = {_array_literal(special)}",
        f"bound{suffix} = {bound_text}",
        f"also{suffix} = {also_text}" + ("  # accepted there too: an overflow the bound allows" if also else ""),
    ]


_CHECK = '''\
def check(name, actual, expected, bound, also, dtype=None):
    """Shape, then dtype, then |actual - expected| <= bound where expected is finite, and the same
    inf or NaN where it is not (or one of the values `also` lists for the index)."""
    assert isinstance(actual, np.ndarray), f"{name}: {type(actual).__name__}, not a numpy array"
    assert actual.shape == expected.shape, f"{name}: shape {actual.shape} != {expected.shape}"
    if dtype is not None:
        assert actual.dtype == dtype, f"{name}: dtype {actual.dtype}, not the input's {np.dtype(dtype)}"
    got = actual.astype(np.float64)
    with np.errstate(invalid="ignore"):
        close = np.abs(got - expected) <= bound
    same = (np.isnan(expected) & np.isnan(got)) | (expected == got)
    wrong = np.where(np.isfinite(expected), ~close, ~same)
    for index, values in also.items():
        if any(np.isnan(v) and np.isnan(got[index]) or got[index] == v for v in values):
            wrong[index] = False
    bad = [tuple(int(i) for i in index) for index in np.argwhere(wrong)]
    shown = "; ".join(f"at {i}: actual {float(got[i])!r}, expected {float(expected[i])!r}" for i in bad[:5])
    within = f"bound {bound}" if np.ndim(bound) == 0 else "bound per element"
    assert not bad, f"{name}: {len(bad)} of {expected.size} elements wrong ({within}): {shown}"'''


# --- literals ---------------------------------------------------------------------------------------------


def _number(value: float) -> str:
    """An exact literal: an integer as one (-0.0 keeps its sign), any other float by repr, inf and NaN by name."""
    if math.isnan(value):
        return "np.nan"
    if math.isinf(value):
        return "np.inf" if value > 0 else "-np.inf"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0"
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def _round_down(value: float) -> float:
    """`value` rounded down to 3 significant digits (never above it); 0 and non-finite values as they are."""
    if not math.isfinite(value) or value <= 0:
        return value
    mantissa, exponent = f"{value:.2e}".split("e")
    rounded = float(f"{mantissa}e{exponent}")
    if rounded > value:
        rounded = float(f"{float(mantissa) - 0.01:.2f}e{exponent}")
    while rounded > value:
        rounded = float(np.nextafter(rounded, 0.0))
    return rounded


def _array_literal(array) -> str:
    """np.array([...], dtype=np.float64).reshape(shape), values exact (repr), wrapped at LINE_WIDTH."""
    array = np.asarray(array, dtype=np.float64)
    values = ", ".join(_number(float(v)) for v in array.reshape(-1).tolist())
    text = f"np.array([{values}], dtype=np.float64).reshape{tuple(array.shape)!r}"
    if len(text) <= LINE_WIDTH - 12:
        return text
    wrapped = textwrap.wrap(values, LINE_WIDTH - 4, break_on_hyphens=False)
    body = "\n".join(f"    {line}" for line in wrapped)
    return f"np.array([\n{body}\n], dtype=np.float64).reshape{tuple(array.shape)!r}"


def _array_line(name: str, array) -> str:
    if array is None:
        return f"{name} = None"
    return f"{name} = {_array_literal(np.asarray(array, dtype=np.float64))}"


__all__ = ["snippet", "result_reproducer", "remember", "SourceUnavailable"]

"""pytest plugin: parametrize a test over convt-oracle cases and targets (entry point pytest11 `convt_oracle`).

Installed with the package; `-p no:convt_oracle` turns it off. Options (group "convt-oracle"), each also
an ini key of the same name with underscores (`convt_suite = edge`); the command line wins over the ini
file, the ini file over the default:

    --convt-suite NAME      the suite of cases (convt_oracle.cases.suites), default "smoke"
    --convt-targets A,B     targets: "module:function" strings or adapter names, either optionally
                            NAME@/path/to/python (convt_oracle.harness.targets; default: none)
    --convt-dtypes A,B      the dtypes each configuration runs in, default "float32"
    --convt-seed N          the seed of generated suites, default 0
    --convt-known FILE      the known-findings file (convt_oracle.harness.known), default the one shipped
                            with convt-oracle; "none": no file

They are validated once, at configure time (an unknown suite or dtype is a usage error listing the known
ones), and printed in the report header with the versions of numpy, ml_dtypes and of any framework that
is already imported (the header never imports one).

A test asks for them by fixture name:

    def test_mine(convt_case, convt_target, convt_check):
        convt_check(convt_case, convt_target)

- `convt_case`: one `convt_oracle.cases.model.Case` with a concrete dtype; the test runs once per case of the suite in
  each dtype, and its node id is the case id (`test_mine[2d-b1-c1x1-...-r2]`).
- `convt_target`: one target name; the test runs once per target (ids: the names). Without any target the
  test is skipped, saying how to give one.
- `convt_check(case, target)` (also importable as `convt_oracle.harness.pytest_plugin.check`): runs the case on the
  target and compares with the golden (convt_oracle.harness.crosscheck.check_case); a discrepancy fails the test with
  the result's message and a reproducer to paste; `unsupported` skips it with the target's reason;
  otherwise it returns the Result. `refused` (the framework declined a case outside its documented domain)
  skips it too.
- Known findings: a case that a strict match table of an applicable entry selects is a strict xfail
  (`xfail(strict=True)`, its reason "<id>: <reason> (<issue>)"): its discrepancy is expected, and a fixed
  framework shows as XPASS, which fails. A discrepancy that a non-strict entry explains (a finding that
  shows on some of the cases its conditions select) becomes an xfail when it happens. Any other failure
  of such a test, a different outcome included, stays a failure.
- `@pytest.mark.convt(suite=..., dtypes=..., seed=...)` overrides the options for one test (or a module,
  through `pytestmark`).

Case generation is deterministic for a seed, so every pytest-xdist worker collects the same tests.
Heavy imports (numpy, the golden, the suites) happen inside the hooks, not when pytest loads the plugin.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace

import pytest

DEFAULT_SUITE = "smoke"
DEFAULT_DTYPES = ("float32",)
DEFAULT_SEED = 0
# Frameworks whose versions the header reports when (and only when) something already imported them.
FRAMEWORKS = ("torch", "tensorflow", "jax", "onnx", "onnxruntime", "keras")
MARKER_KEYS = ("suite", "dtypes", "seed")
NO_KNOWN = (None, ())  # the stash's value without a findings file: (path, entries)


@dataclass(frozen=True)
class Settings:
    """What runs: chosen once per session, overridable per test with the `convt` marker."""

    suite: str = DEFAULT_SUITE
    targets: tuple[str, ...] = ()
    dtypes: tuple[str, ...] = DEFAULT_DTYPES
    seed: int = DEFAULT_SEED


_SETTINGS = pytest.StashKey[Settings]()
_CASES = pytest.StashKey[dict]()
_KNOWN = pytest.StashKey[tuple]()
_OUTER = pytest.StashKey[dict]()
# The session's known findings, for `check`, which is called without the config: (path or None, entries);
# and whether the running test is a strict xfail of a known finding (set by `_convt_known_finding`).
_SESSION = {"known": NO_KNOWN, "strict": None}


class KnownDiscrepancy(AssertionError):
    """A discrepancy that a known finding explains, raised by `check` in a test that the finding makes a
    strict xfail: the one failure that xfail accepts (`raises=`)."""


# --- options ------------------------------------------------------------------------------------------
def pytest_addoption(parser):
    group = parser.getgroup("convt-oracle", "convt-oracle: transposed-convolution cases and targets")
    group.addoption(
        "--convt-suite", default=None, metavar="NAME",
        help=f"suite of cases for convt_case (convt_oracle.cases.suites); default {DEFAULT_SUITE!r}, or ini convt_suite",
    )
    group.addoption(
        "--convt-targets", default=None, metavar="A,B",
        help="comma-separated targets for convt_target: 'module:function' or adapter names, either optionally "
             "NAME@/path/to/python; or ini convt_targets",
    )
    group.addoption(
        "--convt-dtypes", default=None, metavar="A,B",
        help=f"comma-separated dtypes each configuration runs in; default {','.join(DEFAULT_DTYPES)}, or ini convt_dtypes",
    )
    group.addoption(
        "--convt-seed", default=None, metavar="N",
        help=f"seed of the generated suites; default {DEFAULT_SEED}, or ini convt_seed",
    )
    parser.addini("convt_suite", "convt-oracle: default --convt-suite", default="")
    parser.addini("convt_targets", "convt-oracle: default --convt-targets (commas or whitespace)", default="")
    parser.addini("convt_dtypes", "convt-oracle: default --convt-dtypes (commas or whitespace)", default="")
    group.addoption(
        "--convt-known", default=None, metavar="FILE",
        help="known-findings file (TOML) whose entries make their cases xfails; default the one shipped with "
             "convt-oracle, 'none' for none; or ini convt_known",
    )
    parser.addini("convt_seed", "convt-oracle: default --convt-seed", default="")
    parser.addini("convt_known", "convt-oracle: default --convt-known", default="")


def _names(text) -> tuple[str, ...]:
    if isinstance(text, str):
        text = text.replace(",", " ").split()
    return tuple(str(item).strip() for item in text if str(item).strip())


def _option(config, name: str):
    """The command-line value, else the ini value, else None."""
    value = config.getoption(f"--convt-{name}")
    if value is None:
        value = config.getini(f"convt_{name}") or None
    return value


def validate(suite, dtypes, seed, *, where: str) -> tuple[str, tuple[str, ...], int]:
    """(suite, dtypes, seed) checked against the known suites and dtypes; ValueError naming the known ones."""
    from convt_oracle.cases import suites

    if suite not in suites.SUITES:
        raise ValueError(f"{where}suite: unknown {suite!r}; known suites: {', '.join(sorted(suites.SUITES))}")
    try:
        dtypes = suites.check_dtypes(_names(dtypes))
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where}{error}") from None
    try:
        seed = suites.check_seed(int(seed) if isinstance(seed, str) else seed)  # an option's text, or a marker's int
    except (TypeError, ValueError):
        raise ValueError(f"{where}seed: got {seed!r}; expected an integer") from None
    return suite, dtypes, seed


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "convt(suite=None, dtypes=None, seed=None): run this test's convt_case over another suite, dtypes "
        "or seed than the --convt-* options say",
    )
    if config.option.help or config.option.version:
        return
    try:
        suite, dtypes, seed = validate(
            _option(config, "suite") or DEFAULT_SUITE,
            _option(config, "dtypes") or DEFAULT_DTYPES,
            _option(config, "seed") or DEFAULT_SEED,
            where="--convt-",
        )
    except ValueError as error:
        raise pytest.UsageError(f"convt-oracle: {error}") from None
    targets = _names(_option(config, "targets") or ())
    try:
        from convt_oracle.harness.targets import TargetSpec

        for target in targets:  # the grammar of convt-oracle run --targets (convt_oracle.harness.targets)
            TargetSpec.parse(target, where="--convt-targets")
    except ValueError as error:
        raise pytest.UsageError(f"convt-oracle: {error}") from None
    config.stash[_SETTINGS] = Settings(suite=suite, targets=tuple(dict.fromkeys(targets)), dtypes=dtypes, seed=seed)
    config.stash[_CASES] = {}
    config.stash[_OUTER] = dict(_SESSION)  # a pytest run inside a test (pytester) gives it back when it ends
    config.stash[_KNOWN] = _SESSION["known"] = _known_findings(_option(config, "known"))


def _known_findings(option) -> tuple:
    """(path, entries) of the known-findings file the option names (convt_oracle.harness.known.resolve), or
    NO_KNOWN; a file that cannot be used is a usage error naming it, the entry, the key and the rule."""
    from convt_oracle.harness import known

    try:
        return known.from_option(option) or NO_KNOWN
    except known.KnownFindingsError as error:
        raise pytest.UsageError(f"convt-oracle: --convt-known: {error}") from None


def pytest_unconfigure(config):
    """Restore the outer session's known findings (a pytester run inside a test) and close the workers of the
    NAME@PYTHON targets this process loaded."""
    _SESSION.update(config.stash.get(_OUTER, {"known": NO_KNOWN, "strict": None}))
    _close_workers()


def settings(config) -> Settings:
    """The session's validated settings."""
    return config.stash[_SETTINGS]


# --- report header ------------------------------------------------------------------------------------
def versions(targets=()) -> dict:
    """{library: version} of numpy, ml_dtypes, the frameworks behind the adapter `targets` (from the installed
    packages' metadata) and any other framework already imported: none is imported here."""
    import ml_dtypes
    import numpy

    from convt_oracle.harness.targets import TargetSpec

    found = {"numpy": numpy.__version__, "ml_dtypes": ml_dtypes.__version__}
    reported = set()
    for target in targets:
        spec = TargetSpec.parse(target, where="--convt-targets")
        if not spec.is_adapter:
            continue  # a "module:function" target
        key = spec.framework if spec.label == spec.framework else f"{spec.framework} (for {spec.label})"
        found[key] = spec.version()
        reported.add(spec.framework)
    for name in FRAMEWORKS:
        module = sys.modules.get(name)
        if module is not None and name not in reported:
            found[name] = str(getattr(module, "__version__", "unknown"))
    return found


def pytest_report_header(config):
    if _SETTINGS not in config.stash:
        return None
    chosen = settings(config)
    targets = ", ".join(chosen.targets) or "none (--convt-targets module:function,...)"
    path, findings = config.stash.get(_KNOWN, NO_KNOWN)
    return [
        f"convt-oracle: suite {chosen.suite}, dtypes {', '.join(chosen.dtypes)}, seed {chosen.seed}, targets {targets}",
        "convt-oracle versions: "
        + ", ".join(f"{name} {version}" for name, version in versions(chosen.targets).items()),
        f"convt-oracle known findings: {path} ({len(findings)} entries)" if path else "convt-oracle known findings: none",
    ]


# --- parametrization ----------------------------------------------------------------------------------
def _for_test(config, definition) -> Settings:
    """The session's settings with the closest `convt` marker's overrides, validated."""
    chosen = settings(config)
    marker = definition.get_closest_marker("convt")
    if marker is None:
        return chosen
    overrides = dict(marker.kwargs)
    if marker.args:
        overrides.setdefault("suite", marker.args[0])
    unknown = sorted(set(overrides) - set(MARKER_KEYS))
    if unknown or len(marker.args) > 1:
        pytest.fail(
            f"@pytest.mark.convt on {definition.nodeid}: unexpected {unknown or list(marker.args[1:])}; "
            f"it takes {', '.join(MARKER_KEYS)}",
            pytrace=False,
        )
    try:
        suite, dtypes, seed = validate(
            overrides.get("suite", chosen.suite),
            overrides.get("dtypes", chosen.dtypes),
            overrides.get("seed", chosen.seed),
            where="@pytest.mark.convt: ",
        )
    except ValueError as error:
        pytest.fail(f"{definition.nodeid}: {error}", pytrace=False)
    return replace(chosen, suite=suite, dtypes=dtypes, seed=seed)


def cases_for(config, chosen: Settings) -> list:
    """The chosen suite's cases in the chosen dtypes, generated once per (suite, seed, dtypes) per process."""
    from convt_oracle.cases import suites

    key = (chosen.suite, chosen.seed, chosen.dtypes)
    cache = config.stash[_CASES]
    if key not in cache:
        cache[key] = suites.expand(suites.get(chosen.suite, seed=chosen.seed), chosen.dtypes)
    return cache[key]


def pytest_generate_tests(metafunc):
    wants_case = "convt_case" in metafunc.fixturenames
    wants_target = "convt_target" in metafunc.fixturenames
    if not (wants_case or wants_target) or _SETTINGS not in metafunc.config.stash:
        return
    chosen = _for_test(metafunc.config, metafunc.definition)
    if wants_case:
        cases = cases_for(metafunc.config, chosen)
        metafunc.parametrize("convt_case", cases, ids=[case.id for case in cases], indirect=True)
    if wants_target:
        if chosen.targets:
            metafunc.parametrize("convt_target", chosen.targets, ids=list(chosen.targets), indirect=True)
        else:
            skip = pytest.mark.skip(reason="convt-oracle: no target; pass --convt-targets module:function,... or set convt_targets")
            metafunc.parametrize("convt_target", [pytest.param(None, id="no-target", marks=skip)], indirect=True)


@pytest.fixture
def convt_case(request):
    """One case (convt_oracle.cases.model.Case, concrete dtype) of the chosen suite; the node id is its id."""
    if not hasattr(request, "param"):
        pytest.fail("convt_case is parametrized at collection: name it among the test's arguments", pytrace=False)
    return request.param


@pytest.fixture
def convt_target(request):
    """One target name from --convt-targets: 'module:function' or an adapter name, optionally NAME@PYTHON."""
    if not hasattr(request, "param"):
        pytest.fail("convt_target is parametrized at collection: name it among the test's arguments", pytrace=False)
    return request.param


@pytest.fixture(autouse=True)
def _convt_known_finding(request):
    """Makes a test parametrized with a case and a target a strict xfail where a strict known finding
    expects its discrepancy (module docstring); `check` then raises KnownDiscrepancy for it."""
    _SESSION["strict"] = None
    callspec = getattr(request.node, "callspec", None)
    params = callspec.params if callspec is not None else {}
    case, target = params.get("convt_case"), params.get("convt_target")
    if case is not None and target is not None and _SESSION["known"][1]:
        expected = [f for f in _applicable(target) if f.expects_failure(case, _name(target))]
        if expected:
            _SESSION["strict"] = (case, _name(target))
            request.applymarker(pytest.mark.xfail(strict=True, raises=KnownDiscrepancy, reason=_reasons(expected)))
    yield
    _SESSION["strict"] = None


def _name(target) -> str:
    from convt_oracle.harness.crosscheck import target_name

    return target_name(target)


def _reasons(findings) -> str:
    return "; ".join(f"{f.id}: {f.reason} ({f.issue})" for f in findings)


_ENVIRONMENTS = {}


def _applicable(target) -> list:
    """The session's known findings that apply to `target` here: its framework's versions and kernels asked
    of the loaded adapter (a "module:function" target has none), and this machine's CPU flags."""
    from convt_oracle.harness import known
    from convt_oracle.harness.report import cpu_flags

    name = _name(target)
    if name not in _ENVIRONMENTS:
        try:
            function = _load(target)
        except (ValueError, TypeError, ImportError):  # check() reports it
            return []
        runtime = function.runtime() if callable(getattr(function, "runtime", None)) else {}
        _ENVIRONMENTS[name] = {"runtime": {name: runtime}, "cpu_flags": cpu_flags()}
    return known.applicable(_SESSION["known"][1], name, _ENVIRONMENTS[name])


@pytest.fixture
def convt_check():
    """check(case, target, tolerance=None) -> Result; fails with the message and a reproducer on a discrepancy."""
    return check


# --- checking one case --------------------------------------------------------------------------------
_LOADED = {}


def _load(target):
    """The callable behind a target, loaded once per process (an adapter is instantiated once; a NAME@PYTHON
    target's worker starts once and is closed when the session ends, pytest_unconfigure)."""
    from convt_oracle.harness.crosscheck import crosscheck_target

    if not isinstance(target, str):
        return crosscheck_target(target)
    if target not in _LOADED:
        _LOADED[target] = crosscheck_target(target)
    return _LOADED[target]


def _close_workers():
    """Close the workers of the NAME@PYTHON targets this process loaded."""
    isolation = sys.modules.get("convt_oracle.harness.isolation")  # loaded if any worker was started
    for target, function in list(_LOADED.items()):
        if isolation is not None and isinstance(function, isolation.IsolatedTarget):
            function.close()
            del _LOADED[target]


def failure_message(result, function=None) -> str:
    """What a failing test says: outcome, target, case, the comparison's message and a reproducer, the
    reproducer unindented after "To reproduce, run:" so that it pastes as it is (`function`: the callable
    target, whose source the reproducer embeds where it cannot be imported by its name)."""
    lines = [f"convt-oracle: {result.outcome}: {result.target} on {result.case_id}"]
    if result.message:
        lines += [f"  {line}" for line in result.message.splitlines()]
    lines += ["To reproduce, run:", result.reproducer(function)]
    return "\n".join(lines)


def check(case, target, *, tolerance=None, array="numpy", device=None, out=False):
    """Run `case` on `target` and compare with the golden; fail the calling test on a discrepancy.

    `target`: a "module:function" string, an adapter name or a callable; `array`, `device`, `out`: a function
    called with a framework's arrays on a device, or into a prefilled out= buffer, as crosscheck takes them
    (convt_oracle.harness.arrays). Returns the Result when it is
    `pass`; skips the test when the target says the case is `unsupported` or the framework `refused` it
    (with the reason); a discrepancy that a known finding explains is an xfail (KnownDiscrepancy where the
    finding makes the test a strict xfail); otherwise fails with the result's message and a reproducer a
    user can paste.
    """
    __tracebackhide__ = True
    from convt_oracle.compare import REFUSED, UNSUPPORTED
    from convt_oracle.harness.crosscheck import check_case, target_name

    name = target_name(target)
    try:
        function, problem = _load(target), None
    except (ValueError, TypeError, ImportError) as error:
        function, problem = None, f"{type(error).__name__}: {error}"
    if problem is None:
        from convt_oracle.harness.arrays import wrap

        try:
            called = wrap(function, array=array, device=device, out=out)  # the function itself for numpy arrays
        except (ValueError, TypeError) as error:
            problem = f"{type(error).__name__}: {error}"
    if problem is not None:
        pytest.fail(f"convt-oracle: cannot load target {name!r}: {problem}", pytrace=False)
    import numpy as np

    with np.errstate(all="ignore"):  # inf and NaN inputs are cases too: the comparison judges, not numpy's warnings
        result = check_case(called, case, name, tolerance)
    if result.outcome in (UNSUPPORTED, REFUSED):
        pytest.skip(f"convt-oracle: {name}: {result.outcome}: {result.detail}")
    if not result.ok:
        explained = [f for f in _applicable(target) if f.explains(result)] if _SESSION["known"][1] else []
        reproduced = None if isinstance(target, str) else target
        if called is not function:  # called with other arrays or out=: the reproducer calls it so
            reproduced = called
        if explained and _SESSION["strict"] == (case, name):
            raise KnownDiscrepancy(f"{failure_message(result, reproduced)}\nknown finding: {_reasons(explained)}")
        if explained:
            pytest.xfail(f"known finding {_reasons(explained)}")
        pytest.fail(failure_message(result, reproduced), pytrace=False)
    return result

"""What every test module shares: the support package, the project's markers, the kernel settings in the header.

- `from support import ...`: tests/support/ (see its __init__), on sys.path through pyproject.toml's pytest
  `pythonpath = ["tests"]`.
- `@pytest.mark.framework("tensorflow")`: the test needs that framework; it is skipped, saying so, where
  the framework is not installed.
- `@pytest.mark.finding(id, reason, where=...)`: a pinned framework finding. Its test asserts the right
  answer. `where` (optional) is a callable returning a support.probes.Verdict: whether the kernel the finding
  was seen in runs here, asked of the framework. Where it runs, the test is a strict xfail (an XPASS, a
  fixed framework, fails the run so the finding is revisited); where another kernel runs, it is an ordinary
  test; where that cannot be told, it is skipped with the probe's reason. Without `where` the finding holds
  on every kernel. `where` may take the test's parameters by name (`where=lambda dtype: ...`).
"""

from __future__ import annotations

import importlib.util
import inspect
import os

import pytest

# The settings that choose the kernels frameworks run (README, "Tests on any CPU").
KERNEL_SETTINGS = ("TF_ENABLE_ONEDNN_OPTS", "ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY", "OMP_NUM_THREADS")


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "finding(id, reason, where=None): a pinned framework finding; strict xfail where its kernel runs "
        "(tests/conftest.py)",
    )


def pytest_report_header(config):
    chosen = ", ".join(f"{name}={os.environ.get(name, '(unset)')}" for name in KERNEL_SETTINGS)
    return [f"kernel settings: {chosen}"]


def pytest_runtest_setup(item):
    for marker in item.iter_markers("framework"):  # the module's and the test's own: each is needed
        name = marker.args[0]
        if importlib.util.find_spec(name) is None:
            pytest.skip(f"{name} is not installed: this test needs it")


@pytest.fixture(autouse=True)
def _pinned_finding(request):
    """Turns the `finding` marker into a strict xfail, an ordinary test or a skip (module docstring)."""
    marker = request.node.get_closest_marker("finding")
    if marker is None:
        return
    finding, reason = marker.args
    where = marker.kwargs.get("where")
    if where is None:
        request.applymarker(pytest.mark.xfail(strict=True, reason=f"FINDING {finding}: {reason}"))
        return
    params = getattr(request.node, "callspec", None)
    params = params.params if params is not None else {}
    verdict = where(**{name: params[name] for name in inspect.signature(where).parameters})
    if verdict.applies is None:
        pytest.skip(f"finding {finding}: cannot tell whether its kernel runs here: {verdict.detail}")
    if verdict.applies:
        request.applymarker(pytest.mark.xfail(strict=True, reason=f"FINDING {finding}: {reason} [{verdict.detail}]"))
    else:
        request.node.user_properties.append(("finding", f"{finding}: another kernel runs here, an ordinary test "
                                                         f"[{verdict.detail}]"))


def pytest_terminal_summary(terminalreporter):
    """The findings that ran as ordinary tests here, because another kernel runs (and which)."""
    lines = sorted({
        f"{report.nodeid}: {value}"
        for reports in terminalreporter.stats.values() for report in reports
        if getattr(report, "when", None) == "call" and report.passed
        for name, value in getattr(report, "user_properties", ()) if name == "finding"
    })
    if lines:
        terminalreporter.write_sep("-", "findings whose kernel does not run here (ordinary tests)")
        for line in lines:
            terminalreporter.write_line(line)

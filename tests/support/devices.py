"""The device variants' two tests, shared by the adapter test modules: without the device, every case is
`unsupported` with the framework's own reason; with it, the variant agrees with the golden."""

from __future__ import annotations

import pytest

import convt_oracle
from convt_oracle.adapters import registry


def check_skipped_without_its_device(name: str, cases, words: str) -> None:
    """Where the framework sees no such device, `name` says so on every case (forward and vjp)."""
    adapter = registry.load(name)
    reason = adapter.device_unavailable()
    if reason is None:
        pytest.skip(f"{name}'s device is here: there is no skip to explain (its other test runs on it)")
    assert words in reason, reason
    report = convt_oracle.crosscheck(adapter, suite=cases, grad=True)
    assert {r.outcome for r in report.results} == {"unsupported"}
    assert all(r.detail == f"skipped: {reason}" for r in report.results)


def crosscheck_on_its_device(name: str, cases, **options):
    """The variant's report on `cases`; the test is skipped, with the framework's reason, without the device."""
    reason = registry.load(name).device_unavailable()
    if reason:
        pytest.skip(reason)
    return convt_oracle.crosscheck(name, suite=cases, **options)

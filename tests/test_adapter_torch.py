"""The torch adapter against the golden, with the real torch (skipped, with the reason, without it)."""

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed: the torch adapter cannot be checked")

import oracle  # noqa: E402
from adapters import registry  # noqa: E402
from cases import suites  # noqa: E402
from cases.model import make_case  # noqa: E402

MODES_AND_SHAPES = [
    make_case(input_size=(5, 7), kernel_size=(3, 2), in_channels=4, out_channels=6, groups=2, batch=2,
              stride=(2, 1), dilation=(1, 2), padding=1, output_padding=(1, 0), bias=True, seed=17),
    make_case(input_size=(6,), kernel_size=(4,), in_channels=2, out_channels=3, stride=3, padding=2,
              output_padding=2, seed=5, name="1d output_padding 2 < stride 3"),
    make_case(input_size=(3, 4, 2), kernel_size=(2, 3, 2), in_channels=3, out_channels=2, stride=(1, 2, 2),
              padding=(0, 1, 0), bias=True, seed=6),
    make_case(input_size=(5,), kernel_size=(3,), stride=2, mode="output_shape", padding=1, output_padding=1, seed=1, bias=True),
    make_case(input_size=(4, 5), kernel_size=(3, 3), in_channels=2, out_channels=4, groups=2, stride=2,
              mode="output_shape", padding=1, output_padding=1, seed=2),
    make_case(input_size=(4, 5), kernel_size=(4, 4), in_channels=2, out_channels=3, stride=2, mode="same", seed=3),
    make_case(input_size=(4, 5), kernel_size=(3, 3), in_channels=2, out_channels=3, stride=2, mode="valid", seed=4),
]


@pytest.mark.parametrize("name", ["torch", "torch-channels-last"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_torch_adapter_agrees_with_the_golden(name, dtype):
    report = oracle.crosscheck(name, suite=MODES_AND_SHAPES + suites.get("article"), dtypes=(dtype,), grad=True)
    assert report.ok, report.summary()
    native = [r for r in report.results if r.outcome == "pass" and r.check == "forward"]
    assert len(native) >= 5, report.summary()


def test_asymmetric_crop_and_large_output_padding_are_unsupported_with_reasons():
    cases = [
        make_case(input_size=(4,), kernel_size=(3,), padding=((1, 0),), seed=1),
        make_case(input_size=(4,), kernel_size=(3,), stride=2, output_padding=2, seed=1),
    ]
    report = oracle.crosscheck("torch", suite=cases, dtypes=("float32",))
    reasons = [r.detail for r in report.results]
    assert [r.outcome for r in report.results] == ["unsupported", "unsupported"]
    assert "asymmetric" in reasons[0]
    assert "output_padding < max(stride, dilation)" in reasons[1]


def test_the_registry_lists_torch_and_rejects_unknown_names():
    assert {"torch", "torch-channels-last"} <= set(registry.available())
    with pytest.raises(ValueError, match="known adapters: .*torch"):
        registry.load("no-such-framework")
    assert registry.load("torch").version() == torch.__version__

"""A kernel author's transposed convolution with one mistake, checked by convt-oracle (README, "Checking your
own implementation": the output below is this script's).

    .venv/bin/python docs/own_kernel_example.py

The scatter form, one kernel tap at a time, in numpy; the mistake: output_padding's extra rows are put at
the front of each axis instead of the end. The function lives in this script (__main__), as it would in a
notebook: its reproducer carries its source.
"""

import numpy as np

import convt_oracle


def my_conv_transpose(x, w, bias, *, stride, padding, output_padding, dilation, groups):
    batch, cin, *size = x.shape
    _, cog, *kernel = w.shape
    full = [(i - 1) * s + d * (k - 1) + 1 for i, s, d, k in zip(size, stride, dilation, kernel)]
    out = np.zeros((batch, groups, cog, *(f + op for f, op in zip(full, output_padding))))
    xg = x.astype(np.float64).reshape(batch, groups, cin // groups, *size)
    wg = w.astype(np.float64).reshape(groups, cin // groups, cog, *kernel)
    for tap in np.ndindex(*kernel):
        # the mistake: the output_padding rows go first, so every tap lands op places late
        where = tuple(slice(op + t * d, op + t * d + (i - 1) * s + 1, s)
                      for op, t, d, i, s in zip(output_padding, tap, dilation, size, stride))
        out[(..., *where)] += np.einsum("ngc...,gcd->ngd...", xg, wg[(..., *tap)])
    out = out.reshape(batch, groups * cog, *out.shape[3:])
    crop = tuple(slice(b, n - e) for (b, e), n in zip(padding, out.shape[2:]))
    out = out[(..., *crop)]
    if bias is not None:
        out = out + bias.reshape(-1, *([1] * len(size)))
    return out.astype(x.dtype)


if __name__ == "__main__":
    with np.errstate(invalid="ignore"):  # the suite's inf and NaN inputs make NaN, as they should
        report = convt_oracle.crosscheck(my_conv_transpose, suite="default", dtypes=("float32",), seed=0)
        groups = report.explain(shrink=True, budget=10)
    print(report.summary(limit=1))
    print()
    for group in groups[:2]:
        print(f"{group.count} x {group.outcome}, diagnosis: {group.diagnosis}")
        for feature in group.features[:2]:
            print(f"  {feature.sentence}")
        print(f"  smallest case: {group.minimal_case.id}")
    print("\nits reproducer:\n")
    print(groups[0].snippet)

"""Targets for tests/test_isolation.py: correct ones, and ones that crash, hang or raise on one case.

The misbehaving case is recognised by its shape: three input channels (`TRIGGER_CHANNELS`). Each target
is a module-level function, so a worker process imports it by reference. This module imports only numpy
at its top, so that `double` runs in an interpreter that has numpy and nothing else.
"""

import ctypes
import os
import signal
import sys
import time

import numpy as np

TRIGGER_CHANNELS = 3


def _golden():
    from convt_oracle import golden  # inside: the bare-numpy interpreter of the `double` test lacks ml_dtypes

    return golden


def correct(x, w, bias=None, **params):
    """The golden, rounded to the input dtype."""
    return _golden().conv_transpose(x, w, bias, **params).astype(x.dtype)


def _correct_vjp(x, w, grad_out, bias=None, **params):
    grads = _golden().conv_transpose_vjp(x, w, grad_out, bias, **params)
    return tuple(None if g is None else g.astype(x.dtype) for g in grads)


correct.vjp = _correct_vjp


def noisy(x, w, bias=None, **params):
    """Correct, but prints to stdout and stderr, warns, and writes to file descriptor 2 as C code would."""
    import os
    import warnings

    print("noisy: a line on stdout")
    print("noisy: a line on stderr", file=sys.stderr)
    warnings.warn("noisy: a warning")
    os.write(2, b"noisy: a line from C\n")
    return correct(x, w, bias, **params)


def _triggered(x) -> bool:
    return x.shape[1] == TRIGGER_CHANNELS


def segfault_on_trigger(x, w, bias=None, **params):
    if _triggered(x):
        ctypes.string_at(0)  # reads address 0: SIGSEGV
    return correct(x, w, bias, **params)


def abort_on_trigger(x, w, bias=None, **params):
    if _triggered(x):
        os.abort()
    return correct(x, w, bias, **params)


def exit_on_trigger(x, w, bias=None, **params):
    if _triggered(x):
        os._exit(3)
    return correct(x, w, bias, **params)


def sigkill_on_trigger(x, w, bias=None, **params):
    """What the out-of-memory killer does."""
    if _triggered(x):
        os.kill(os.getpid(), signal.SIGKILL)
    return correct(x, w, bias, **params)


def hang_on_trigger(x, w, bias=None, **params):
    if _triggered(x):
        time.sleep(600)
    return correct(x, w, bias, **params)


def raise_on_trigger(x, w, bias=None, **params):
    if _triggered(x):
        raise ZeroDivisionError(f"three channels, shape {x.shape}, is too many")
    return correct(x, w, bias, **params)


def unsupported_on_trigger(x, w, bias=None, **params):
    if _triggered(x):
        from convt_oracle import Unsupported

        raise Unsupported("this backend takes at most two input channels")
    return correct(x, w, bias, **params)


def segfault_in_vjp(x, w, bias=None, **params):
    return correct(x, w, bias, **params)


def _segfault_vjp(x, w, grad_out, bias=None, **params):
    if _triggered(x):
        ctypes.string_at(0)
    return _correct_vjp(x, w, grad_out, bias, **params)


segfault_in_vjp.vjp = _segfault_vjp


def returns_list(x, w, bias=None, **params):
    return correct(x, w, bias, **params).tolist()


def double(x, w, bias=None, **params):
    """Not a convolution: 2x, in numpy alone (for an interpreter without this package's dependencies)."""
    return x * 2


class Scaled:
    """A callable object at module level, as an adapter might be."""

    def __call__(self, x, w, bias=None, **params):
        return x * 3


scaled = Scaled()


def echo(x, w, bias=None, **params):
    """x back, untouched: for round trips."""
    return x


def pid(x, w, bias=None, **params):
    """The worker's process id."""
    return np.array([os.getpid()])


class ModeAware:
    """Called like an adapter: call_case / vjp_case see the whole case; `same` mode is refused."""

    def call_case(self, case, x, w, bias):
        if case.mode == "same":
            from convt_oracle import Unsupported

            raise Unsupported(f"no SAME padding here (case {case.id})")
        return correct(x, w, bias, **case.params())

    def vjp_case(self, case, x, w, grad_out, bias):
        return _correct_vjp(x, w, grad_out, bias, **case.params())

    def __call__(self, x, w, bias=None, **params):
        return correct(x, w, bias, **params)

    def vjp(self, x, w, grad_out, bias=None, **params):
        return _correct_vjp(x, w, grad_out, bias, **params)

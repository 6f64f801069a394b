"""What a target raises to tell the oracle something other than a result.

- `Unsupported`: the target cannot express a case natively; the result is `unsupported`, not a failure.
- `Refused`: the framework raised on a case that its adapter declares outside the framework's documented
  domain (torch's output_padding < max(stride, dilation), say); the result is `refused`, not a failure.
- `TargetCrashed`: the target's process died (abort, segfault, out-of-memory kill) while running a case.
- `TargetTimedOut`: the target did not answer within its timeout.

They keep their meaning across a worker's process boundary (convt_oracle.harness.wire).
"""


class Unsupported(Exception):
    """Raised by a target that cannot express a case natively; the message says why."""


class Refused(Exception):
    """Raised by an adapter when its framework raised on a case outside the framework's documented domain
    (convt_oracle.adapters.base.Adapter.domain); the message names the limit and quotes the framework."""


class TargetCrashed(Exception):
    """The target's process died (abort, segfault, out-of-memory kill) while running a case."""


class TargetTimedOut(Exception):
    """The target did not answer within the timeout."""

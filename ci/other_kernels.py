"""Run a command under the other kernel personality than this machine's default, so that one machine's CI
also runs the kernel paths the other kinds of machine take by default.

    python ci/other_kernels.py COMMAND...

TensorFlow turns its oneDNN kernels on by default only on CPUs with AVX-512 features; it is asked which
applies here (IsMklEnabled, in a fresh interpreter without TF_ENABLE_ONEDNN_OPTS). Where oneDNN is on by
default, the command runs with it off and oneDNN and ATen capped at AVX2 (an AVX2-only machine's kernels);
where it is off, with it on (TensorFlow's oneDNN path, which AVX-512 machines take; its AVX2 kernels
here, and still Eigen's for bfloat16 and float16, which oneDNN runs only on AVX-512), oneDNN and ATen
capped at AVX2 as well. Exits with the command's status (128 + N where a signal N ended it).
"""

from __future__ import annotations

import os
import subprocess
import sys

ASK = "from tensorflow.python.util import _pywrap_util_port as port; print(port.IsMklEnabled())"


def tensorflow_onednn_by_default() -> bool | None:
    env = {key: value for key, value in os.environ.items() if key != "TF_ENABLE_ONEDNN_OPTS"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    done = subprocess.run([sys.executable, "-c", ASK], capture_output=True, text=True, env=env)
    answer = done.stdout.strip().splitlines()
    if done.returncode != 0 or not answer:
        last = done.stderr.strip().splitlines()[-1:]
        print(f"other kernels: TensorFlow could not be asked ({last[0] if last else f'exit {done.returncode}'})",
              file=sys.stderr)
        return None  # the caps below still apply to torch's kernels
    return answer[-1] == "True"


def main(command: list[str]) -> int:
    if not command:
        print(__doc__, file=sys.stderr)
        return 2
    default = tensorflow_onednn_by_default()
    personality = {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2",
                   "TF_ENABLE_ONEDNN_OPTS": "0" if default else "1"}
    said = "on" if default else "off" if default is not None else "unknown"
    print(f"other kernels: TensorFlow's oneDNN is {said} by default here; running with "
          + " ".join(f"{key}={value}" for key, value in personality.items()), flush=True)
    status = subprocess.run(command, env={**os.environ, **personality}).returncode
    return 128 - status if status < 0 else status  # a signal: the status a shell gives


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

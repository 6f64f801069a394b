"""What decides which kernels a framework runs, as recorded in every run report (`environment`).

Two records, both cheap:

- `machine_settings()`, in the process that writes the report: the CPU's model and the ISA flags that
  kernels dispatch on, the CPUs this process may use, the environment variables that switch kernels, set
  thread counts or hide devices (workers inherit them), and the GPU device files. No framework is imported.
- `framework_settings()`, in each worker once its target is loaded: what each framework that the target
  imported says about itself (torch's ATen CPU capability, oneDNN, threads and TF32 flags; TensorFlow's
  oneDNN, threads and TF32; jax's platforms, matmul precision and x64; onnxruntime's device and providers).
  Only frameworks already in sys.modules are asked, so that asking costs no import.

`convt-oracle gate` compares these records between two runs and warns where they differ: the same
framework versions can give different results on machines that differ here (README, "Tests on any CPU").
"""

from __future__ import annotations

import glob
import os
import platform
import sys

# The CPU flags that decide which kernels oneDNN, ATen, XLA and Eigen dispatch to.
ISA_FLAGS = (
    "sse4_1", "sse4_2", "avx", "f16c", "fma", "avx2", "avx_vnni", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
    "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8", "amx_fp16", "asimd", "sve", "sve2",
)

# Environment variables that switch kernels, set thread counts or hide devices; recorded set or not (None).
KERNEL_VARIABLES = (
    "TF_ENABLE_ONEDNN_OPTS", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "ONEDNN_DEFAULT_FPMATH_MODE",
    "ATEN_CPU_CAPABILITY", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS", "XLA_FLAGS", "JAX_PLATFORMS", "JAX_DEFAULT_MATMUL_PRECISION", "JAX_ENABLE_X64",
    "CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "NVIDIA_TF32_OVERRIDE", "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE",
    "KERAS_BACKEND",
)


def machine_settings() -> dict:
    """The machine's side of what decides the kernels: CPU model and ISA flags, CPUs, variables, GPU devices."""
    model, flags = cpu_info()
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count()
    return {
        "cpu_model": model,
        "cpu_isa": flags or [],
        "cpus": os.cpu_count(),
        "usable_cpus": usable,
        "variables": {name: os.environ.get(name) for name in KERNEL_VARIABLES},
        "gpu_devices": gpu_device_files(),
    }


def gpu_device_files() -> list[str]:
    """The GPU device files of this machine (NVIDIA's /dev/nvidia<N>, AMD's /dev/kfd): a GPU any framework
    could see. Looked up without importing a framework."""
    return sorted(glob.glob("/dev/nvidia[0-9]*") + glob.glob("/dev/kfd"))


def cpu_info() -> tuple[str, list[str] | None]:
    """(model name, the ISA_FLAGS it has) from /proc/cpuinfo, the one place it is read; the platform's
    processor name elsewhere, and flags None where the file cannot be read."""
    model, flags = platform.processor() or platform.machine(), None
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name":
                    model = value.strip()
                elif key in ("flags", "Features"):  # x86, arm64
                    have = set(value.split())
                    flags = [flag for flag in ISA_FLAGS if flag in have]
                    break
    except OSError:
        pass
    return model, flags


def framework_settings() -> dict:
    """{framework: its settings} for each framework this process has imported (none is imported here)."""
    askers = {"torch": _torch, "tensorflow": _tensorflow, "jax": _jax, "onnxruntime": _onnxruntime, "keras": _keras}
    found = {}
    for name, ask in askers.items():
        module = sys.modules.get(name)
        if module is None:
            continue
        try:
            found[name] = ask(module)
        except Exception as error:  # noqa: BLE001 - a framework that cannot say is recorded as such, never fatal
            found[name] = {"unknown": f"{type(error).__name__}: {error}"}
    return found


def _torch(torch) -> dict:
    settings = {
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "mkldnn_available": torch.backends.mkldnn.is_available(),
        "mkldnn_enabled": bool(torch.backends.mkldnn.enabled),
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "cuda": torch.cuda.is_available(),
    }
    if settings["cuda"]:
        settings.update(
            gpu=torch.cuda.get_device_name(0),
            matmul_allow_tf32=bool(torch.backends.cuda.matmul.allow_tf32),
            cudnn_allow_tf32=bool(torch.backends.cudnn.allow_tf32),
        )
    return settings


def _tensorflow(tf) -> dict:
    from tensorflow.python.util import _pywrap_util_port  # what IsMklEnabled says is oneDNN on or off

    gpus = tf.config.list_physical_devices("GPU")
    settings = {
        "onednn": bool(_pywrap_util_port.IsMklEnabled()),
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),  # 0: TensorFlow's default
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "gpus": len(gpus),
    }
    if gpus:
        settings["tensor_float_32"] = bool(tf.config.experimental.tensor_float_32_execution_enabled())
    return settings


def _jax(jax) -> dict:
    # Its configuration only: asking for its devices would start its backends (thread pools) in a worker that
    # may only have imported jax along with Keras or TensorFlow. The machine's GPU devices and JAX_PLATFORMS
    # are in machine_settings.
    return {
        "platforms": jax.config.jax_platforms,
        "default_matmul_precision": jax.config.jax_default_matmul_precision,
        "enable_x64": bool(jax.config.jax_enable_x64),
    }


def _onnxruntime(ort) -> dict:
    return {"device": ort.get_device(), "providers": list(ort.get_available_providers())}


def _keras(keras) -> dict:
    return {"backend": keras.backend.backend()}

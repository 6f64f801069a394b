"""`convt-oracle env DIR FRAMEWORK==VERSION`: a worker environment for that version of a framework, made with uv,
and the target names that run it (`NAME@DIR/bin/python`, one per adapter of the framework).

What goes in (the worker imports convt_oracle from this checkout, convt_oracle.harness.isolation, so it is
not installed there):
- the framework at that version, with what its adapters need beside it: `onnx` for onnxruntime (the adapter
  builds its models with it, and writes them for the IR version and opset the runtime reads), `jaxlib` for
  jax, a backend for keras (`--backend jax|torch|tensorflow`, optionally `==VERSION`);
- numpy and ml_dtypes in the ranges convt-oracle itself declares (pyproject.toml);
- dependencies as they were a week after the framework's release (`uv pip install --exclude-newer`, from the
  upload times of the release's files on PyPI): an older framework gets the numpy it was built against (
  onnxruntime 1.17 and numpy 2 do not mix) and an onnx of its time, not today's.

torch, decided here and said before anything is downloaded (TorchSource): PyPI's torch for Linux x86_64 is
its CUDA build, several GB with its nvidia-* libraries. So: (1) a CPU build of that version that pip finds on
this machine (`pip install --dry-run --no-index`, pip's own configuration: its find-links) is installed from
that file; (2) otherwise PyPI's wheel, and where that is the CUDA build (uv's resolution of it here has nvidia-*
packages) its download size (the torch wheel and the CUDA libraries uv resolves, their sizes from PyPI) is
said and nothing is done without --accept-cuda-build.
(PyTorch's own CPU index is not used: it is not PyPI.)

Bad input is refused before anything is made (EnvError, exit status 2: an unknown framework, a requirement
that is not NAME==VERSION, a version PyPI does not have, a folder that is not empty); a failure of uv or of
the new environment's check (each adapter started there, convt_oracle.adapters.base.Adapter.check_environment)
is exit status 3.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

from packaging.requirements import InvalidRequirement, Requirement
from packaging.tags import compatible_tags, cpython_tags, platform_tags
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

PYPI_SIMPLE = "https://pypi.org/simple"  # the index's JSON API (PEP 691): versions, files, sizes, upload times
DEPENDENCIES_AFTER_RELEASE = datetime.timedelta(days=7)  # the --exclude-newer margin after a framework's release
GPU_ADAPTERS = {"torch-cuda", "torch-cuda-tf32", "tensorflow-gpu", "tensorflow-gpu-tf32", "jax-gpu", "jax-gpu-tf32"}
EXIT_USAGE, EXIT_ENVIRONMENT = 2, 3  # as convt_oracle.harness.cli.EXIT_STATUSES


@dataclass(frozen=True)
class Framework:
    """A framework as `env` installs it: its distribution, the adapters it serves, what goes beside it."""

    distribution: str
    adapters: tuple[str, ...]
    companions: tuple[str, ...] = ()  # requirements beside it (a bare name: the range convt-oracle declares)


def _tensorflow_distribution() -> str:
    """tensorflow-cpu where PyPI has it (x86_64, as pyproject.toml's tensorflow extra), else tensorflow."""
    return "tensorflow-cpu" if platform.machine() in ("x86_64", "AMD64") else "tensorflow"


FRAMEWORKS = {
    "torch": Framework("torch", ("torch", "torch-channels-last", "torch-cuda", "torch-cuda-tf32")),
    "tensorflow": Framework(_tensorflow_distribution(), ("tensorflow", "tensorflow-gpu", "tensorflow-gpu-tf32")),
    "tensorflow-cpu": Framework("tensorflow-cpu", ("tensorflow", "tensorflow-gpu", "tensorflow-gpu-tf32")),
    "jax": Framework("jax", ("jax", "jax-gpu", "jax-gpu-tf32"), ("jaxlib",)),
    "onnxruntime": Framework("onnxruntime", ("onnxruntime",), ("onnx",)),
    "onnx": Framework("onnx", ("onnx_reference",)),
    "keras": Framework("keras", ()),  # its adapter and backend: --backend
}
KERAS_BACKENDS = {"jax": ("jax", "jaxlib"), "torch": ("torch",), "tensorflow": (_tensorflow_distribution(),)}


class EnvError(Exception):
    """`env` cannot go on; `status` is the exit status (2: bad input, 3: the environment), the message says why."""

    def __init__(self, message: str, status: int = EXIT_USAGE):
        super().__init__(message)
        self.status = status


@dataclass
class Plan:
    """What `env` will do: the folder, the interpreter, what uv installs, and the adapters it serves."""

    folder: str
    python: str  # the interpreter the environment is made from
    python_version: tuple[int, int]
    requirement: str
    packages: list = field(default_factory=list)  # uv pip install arguments: requirements or wheel files
    exclude_newer: str | None = None
    adapters: tuple[str, ...] = ()
    notes: list = field(default_factory=list)  # the decisions, said before anything is done

    @property
    def interpreter(self) -> str:
        return os.path.join(self.folder, "bin", "python")

    def targets(self) -> list[str]:
        return [f"{adapter}@{self.interpreter}" for adapter in self.adapters]


# --- the plan: everything checked, nothing made -------------------------------------------------------------
def plan(folder: str, requirement: str, *, python: str | None = None, backend: str | None = None,
         accept_cuda_build: bool = False, index=None) -> Plan:
    """The Plan for `env folder requirement`; EnvError (exit 2) for bad input, before anything is made."""
    index = index or PackageIndex()
    name, version = parse_requirement(requirement)
    framework = FRAMEWORKS[name]
    folder = os.path.abspath(folder)
    if os.path.exists(folder) and (not os.path.isdir(folder) or os.listdir(folder)):
        raise EnvError(f"DIR: {folder} exists and is not an empty folder; give a new one (env makes it)")
    if backend is not None and name != "keras":
        raise EnvError(f"--backend: got {backend!r} for {name}; it chooses the backend of keras only")
    interpreter, python_version = find_interpreter(python)
    made = Plan(folder, interpreter, python_version, requirement)
    distribution = framework.distribution
    made.exclude_newer = _release_date(index, distribution, version, python_version)  # also: the release exists
    made.notes.append(f"{distribution} {version}, with its dependencies as of {made.exclude_newer} (a week after "
                      f"its release)" if made.exclude_newer else f"{distribution} {version}")
    if name == "torch":
        made.packages += torch_source(version, python_version, accept_cuda_build, index, made.notes, made.exclude_newer)
    else:
        made.packages.append(f"{distribution}=={version}")
    made.packages += [declared(companion) for companion in framework.companions]
    made.adapters = framework.adapters
    if name == "keras":
        made.adapters, backend_packages = _keras_backend(backend, python_version, accept_cuda_build, index, made.notes,
                                                         made.exclude_newer)
        made.packages += backend_packages
    made.packages += [declared("numpy"), declared("ml_dtypes")]
    outside = _outside_declared_range(distribution, version)
    if outside:
        made.notes.append(outside)
    return made


def parse_requirement(text: str) -> tuple[str, str]:
    """(framework, version) of "FRAMEWORK==VERSION"; EnvError naming the argument, the value and the rule."""
    rule = f"expected FRAMEWORK==VERSION, FRAMEWORK one of {', '.join(FRAMEWORKS)} (e.g. onnxruntime==1.17.3)"
    try:
        requirement = Requirement(text)
    except InvalidRequirement:
        raise EnvError(f"FRAMEWORK==VERSION: got {text!r}; {rule}") from None
    name = canonicalize_name(requirement.name)
    specifiers = list(requirement.specifier)
    if name not in FRAMEWORKS:
        raise EnvError(f"FRAMEWORK==VERSION: unknown framework {requirement.name!r} in {text!r}; {rule}")
    if len(specifiers) != 1 or specifiers[0].operator != "==" or "*" in specifiers[0].version \
            or requirement.extras or requirement.marker:
        raise EnvError(f"FRAMEWORK==VERSION: got {text!r}; {rule}: one exact version")
    return name, specifiers[0].version


def find_interpreter(python: str | None) -> tuple[str, tuple[int, int]]:
    """(path, (major, minor)) of the interpreter the environment is made from: `python` (a path, or a version
    that uv finds installed: "3.12"), or this one."""
    if python is None:
        return sys.executable, sys.version_info[:2]
    path = python
    if os.path.sep not in python:
        found = subprocess.run([find_uv(), "python", "find", "--no-python-downloads", python], capture_output=True,
                               text=True)
        if found.returncode != 0:
            raise EnvError(f"--python: no installed Python {python!r} found by uv ({_last_line(found.stderr)})")
        path = found.stdout.strip()
    try:
        asked = subprocess.run([path, "-c", "import sys; print(*sys.version_info[:2])"], capture_output=True, text=True,
                               timeout=60)
    except OSError as error:
        raise EnvError(f"--python: {python!r} cannot be run ({error.strerror or error})") from None
    if asked.returncode != 0:
        raise EnvError(f"--python: {python!r} is not a Python interpreter ({_last_line(asked.stderr)})")
    major, minor = (int(part) for part in asked.stdout.split())
    return path, (major, minor)


def find_uv() -> str:
    """The uv executable: on PATH, else the one the `uv` package installed beside this interpreter."""
    found = shutil.which("uv")
    if found:
        return found
    try:
        import uv

        return uv.find_uv_bin()
    except (ImportError, FileNotFoundError):
        raise EnvError("uv is not installed: pip install 'convt-oracle[env]' (or put uv on PATH)",
                       EXIT_ENVIRONMENT) from None


def declared(name: str) -> str:
    """The requirement convt-oracle declares for `name` (its own dependencies and extras), e.g. "onnx>=1.15";
    the bare name where it declares none."""
    for text in importlib.metadata.requires("convt-oracle") or ():
        requirement = Requirement(text)
        if canonicalize_name(requirement.name) == canonicalize_name(name):
            return f"{requirement.name}{requirement.specifier}"
    return name


def _outside_declared_range(distribution: str, version: str) -> str | None:
    wanted = Requirement(declared(distribution))
    if wanted.specifier and not wanted.specifier.contains(version, prereleases=True):
        return f"note: {distribution} {version} is outside the range convt-oracle declares ({wanted}): its adapter may not work"
    return None


def _tags(python_version: tuple[int, int]) -> list:
    """The wheel tags an interpreter of that version takes on this machine, best first."""
    platforms = list(platform_tags())
    return [*cpython_tags(python_version, platforms=platforms), *compatible_tags(python_version, platforms=platforms)]


def _release_date(index, distribution: str, version: str, python_version) -> str | None:
    """The --exclude-newer date for a release (a week after its files' upload); EnvError where PyPI has no such
    release or no wheel of it for this interpreter; None where PyPI cannot be asked (uv then decides alone)."""
    files = index.files(distribution)
    if files is None:
        return None
    wanted = Version(version)
    release = [f for f in files if _file_version(f["filename"]) == wanted and not f.get("yanked")]
    if not release:
        versions = sorted({v for v in map(_file_version, (f["filename"] for f in files)) if v is not None})
        latest = ", ".join(str(v) for v in versions[-5:])
        raise EnvError(f"FRAMEWORK==VERSION: PyPI has no {distribution} {version} (its latest releases: {latest})")
    if best_wheel(release, _tags(python_version)) is None:
        raise EnvError(f"{distribution} {version} has no wheel for Python {'.'.join(map(str, python_version))} on "
                       f"{platform.system()} {platform.machine()} (PyPI's files of that release)", EXIT_ENVIRONMENT)
    uploaded = [f["upload-time"] for f in release if f.get("upload-time")]
    if not uploaded:
        return None
    last = datetime.datetime.fromisoformat(max(uploaded).replace("Z", "+00:00"))
    return (last + DEPENDENCIES_AFTER_RELEASE).date().isoformat()


def _file_version(filename: str):
    """The version of a wheel or sdist file name, None if it cannot be read."""
    try:
        if filename.endswith(".whl"):
            return parse_wheel_filename(filename)[1]
        stem = filename.removesuffix(".tar.gz").removesuffix(".zip")
        return Version(stem.rpartition("-")[2])
    except (InvalidVersion, ValueError):
        return None


def best_wheel(files: list, tags) -> dict | None:
    """The file among `files` that an interpreter with `tags` (best first) installs, None if no wheel fits."""
    rank = {tag: position for position, tag in enumerate(tags)}
    best = None
    for candidate in files:
        if not candidate["filename"].endswith(".whl"):
            continue
        try:
            found = parse_wheel_filename(candidate["filename"])[3]
        except ValueError:
            continue
        position = min((rank[tag] for tag in found if tag in rank), default=None)
        if position is not None and (best is None or position < best[0]):
            best = (position, candidate)
    return None if best is None else best[1]


# --- torch: where its CPU build comes from -----------------------------------------------------------------
def torch_source(version: str | None, python_version, accept_cuda_build: bool, index, notes: list,
                 exclude_newer: str | None = None) -> list[str]:
    """What uv installs for torch (module docstring): a CPU wheel on this machine, else PyPI's, whose CUDA
    build needs --accept-cuda-build (EnvError with the download size otherwise)."""
    local = local_cpu_wheel(version, python_version)
    if local is not None:
        notes.append(f"torch: the CPU build {os.path.basename(local)}, a wheel on this machine (found by pip's "
                     f"configuration), not PyPI's CUDA build")
        return [local]
    requirement = "torch" if version is None else f"torch=={version}"
    sizes = cuda_download(requirement, python_version, exclude_newer, index)
    if sizes is None:
        notes.append(f"torch: {requirement} from PyPI (a CPU build for this platform)")
        return [requirement]
    torch_bytes, libraries = sizes
    total = torch_bytes + sum(libraries.values())
    said = (f"torch: no CPU build of {requirement} on this machine (pip's find-links); PyPI's is its CUDA build: "
            f"{_size(torch_bytes)} for torch and {_size(sum(libraries.values()))} for {len(libraries)} CUDA libraries "
            f"and their kin ({', '.join(sorted(libraries))}), {_size(total)} to download")
    if not accept_cuda_build:
        raise EnvError(f"{said}. Pass --accept-cuda-build to install it (or put a CPU build of torch where pip "
                       f"finds it, or install one into the folder yourself, e.g. from PyTorch's own index)")
    notes.append(said)
    return [requirement]


def local_cpu_wheel(version: str | None, python_version) -> str | None:
    """The path of a CPU build of torch (of `version`, or the newest) that pip finds on this machine without an
    index (its find-links), for an interpreter of `python_version`; None if there is none."""
    requirement = "torch" if version is None else f"torch=={version}"
    command = [sys.executable, "-m", "pip", "install", "--dry-run", "--no-index", "--no-deps", "--ignore-installed",
               "--quiet", "--report", "-", "--only-binary=:all:",
               "--python-version", "".join(map(str, python_version)), requirement]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        chosen = json.loads(done.stdout)["install"][0] if done.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, ValueError, KeyError, IndexError):
        return None
    if chosen is None:
        return None
    url = chosen.get("download_info", {}).get("url", "")
    requires = chosen.get("metadata", {}).get("requires_dist", [])
    if not url.startswith("file://") or any(canonicalize_name(Requirement(r).name).startswith("nvidia-") for r in requires):
        return None
    return urllib.request.url2pathname(urllib.parse.urlparse(url).path)


def cuda_download(requirement: str, python_version, exclude_newer: str | None, index) -> tuple[int, dict] | None:
    """(bytes of PyPI's torch wheel for this interpreter, {CUDA library: bytes}) where installing `requirement` from
    PyPI brings the CUDA build (uv's resolution of it here has nvidia-* packages); None where it does not, or
    where uv or PyPI cannot be asked. The libraries are the nvidia-*, cuda-* and triton packages it resolves."""
    resolved = resolve([requirement], python_version, exclude_newer)
    if not resolved or not any(name.startswith("nvidia-") for name in resolved):
        return None
    tags = _tags(python_version)

    def wheel_size(name: str) -> int:
        found = best_wheel([f for f in index.files(name) or () if _file_version(f["filename"]) == resolved[name]], tags)
        return found["size"] if found else 0

    libraries = {name: wheel_size(name) for name in resolved if name.startswith(("nvidia-", "cuda-")) or name == "triton"}
    return wheel_size("torch"), libraries


def resolve(requirements: list[str], python_version, exclude_newer: str | None) -> dict | None:
    """{distribution: Version} that uv resolves `requirements` to from PyPI, for an interpreter of `python_version`
    on this machine (nothing downloaded but metadata); None if uv cannot resolve them."""
    command = [find_uv(), "pip", "compile", "--no-header", "--no-annotate", "--quiet",
               "--python-version", ".".join(map(str, python_version)),
               *(["--exclude-newer", exclude_newer] if exclude_newer else []), "-"]
    try:
        done = subprocess.run(command, input="\n".join(requirements), capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    pinned = {}
    for line in done.stdout.splitlines():
        name, equals, version = line.partition("==")
        if equals:
            pinned[canonicalize_name(name.strip())] = Version(version.split(";")[0].strip())
    return pinned


def _size(count: int) -> str:
    return f"{count / 1e9:.1f} GB" if count >= 1e9 else f"{count / 1e6:.0f} MB"


def _keras_backend(backend: str | None, python_version, accept_cuda_build, index, notes,
                   exclude_newer) -> tuple[tuple, list]:
    """(the keras adapter, what uv installs for its backend) for --backend NAME[==VERSION] (default jax)."""
    text = backend or "jax"
    name, _, version = text.partition("==")
    if name not in KERAS_BACKENDS or (version and not version.strip()):
        raise EnvError(f"--backend: got {text!r}; expected one of {', '.join(KERAS_BACKENDS)}, optionally ==VERSION")
    if backend is None:
        notes.append("keras: the jax backend (--backend chooses jax, torch or tensorflow)")
    packages = list(KERAS_BACKENDS[name])
    if name == "torch":
        packages = torch_source(version or None, python_version, accept_cuda_build, index, notes, exclude_newer)
    elif version:
        packages[0] = f"{packages[0]}=={version}"
    return (f"keras-{name}",), packages


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


class PackageIndex:
    """PyPI's JSON API (PEP 691), as pip and uv read it: a project's files, with their sizes and upload times."""

    def __init__(self, url: str = PYPI_SIMPLE, timeout: float = 30):
        self.url, self.timeout, self._files = url.rstrip("/"), timeout, {}

    def files(self, project: str) -> list | None:
        """The project's files (filename, size, upload-time, url, ...); None if the index cannot be reached."""
        name = canonicalize_name(project)
        if name not in self._files:
            request = urllib.request.Request(f"{self.url}/{name}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                    self._files[name] = json.load(answer)["files"]
            except urllib.error.HTTPError as error:
                self._files[name] = [] if error.code == 404 else None
            except (OSError, ValueError, KeyError):
                self._files[name] = None
        return self._files[name]


# --- making it -----------------------------------------------------------------------------------------------
def create(made: Plan, *, say=print) -> None:
    """Make the environment of `made` with uv, then start each of its adapters there and check it (EnvError,
    exit 3, naming what failed)."""
    uv = find_uv()
    steps = [
        [uv, "venv", "--no-project", "--no-python-downloads", "--python", made.python, made.folder],
        [uv, "pip", "install", "--no-python-downloads", "--python", made.interpreter,
         *(["--exclude-newer", made.exclude_newer] if made.exclude_newer else []), *made.packages],
    ]
    for command in steps:
        say(f"$ {' '.join(command)}")
        done = subprocess.run(command, stdout=sys.stderr)  # uv's own progress, as it goes
        if done.returncode != 0:
            raise EnvError(f"{os.path.basename(command[0])} {command[1]} failed (exit status {done.returncode}): "
                           f"see its output above", EXIT_ENVIRONMENT)
    check(made, say=say)


def check(made: Plan, *, say=print) -> None:
    """Start each adapter in the new interpreter and run its check of the environment; a device variant without
    its device is noted, any other failure is EnvError (exit 3)."""
    from convt_oracle.harness.isolation import IsolatedTarget

    for adapter in made.adapters:
        try:
            with IsolatedTarget(adapter, python=made.interpreter, timeout=120) as worker:
                problem = worker.check_environment()
        except Exception as error:  # noqa: BLE001 - whatever it is, that environment cannot run the adapter
            problem = f"{type(error).__name__}: {error}"
        if problem is None:
            say(f"checked: {adapter}@{made.interpreter} runs")
        elif adapter in GPU_ADAPTERS:
            say(f"note: {adapter}@{made.interpreter} has no device here: {problem}")
        else:
            raise EnvError(f"{adapter}@{made.interpreter} cannot run: {problem}", EXIT_ENVIRONMENT)


__all__ = ["plan", "create", "check", "Plan", "EnvError", "FRAMEWORKS", "PackageIndex", "torch_source"]

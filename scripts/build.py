"""Build every layer and function of template.yaml for its Lambda target without Docker, then check sizes.

Layers and function dependencies are installed with pip's cross-platform flags (manylinux wheels for the
template's runtime and architecture), so a Python 3.11 x86_64 machine builds python3.13/arm64 artifacts.
The output mirrors `sam build`: `.aws-sam/build/<LogicalId>/` per resource plus `.aws-sam/build/template.yaml`
pointing at them, which `sam deploy` picks up. Each function plus the layers it uses must stay under its
unzipped size limit (150 MB, or the resource's `Metadata: {MaxUnzippedMB: N}`); the table is also written to
`.aws-sam/build/sizes.json`.

Layers and functions ship compiled bytecode for the runtime's Python (`__pycache__/*.cpython-313.pyc`, unchecked-hash
so Lambda never recompiles them: `/opt` is read-only and nothing can be cached there at run time). That needs an
interpreter of the runtime's version: `PYTHON313` (or `python3.13` on PATH, or pyenv's); without one the build says
so and ships sources only. The built template's custom resources with a `BuildId` property get this build's id, so
every deploy of a new build runs them (the database migration).
"""

from __future__ import annotations

import argparse
import copy
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TEMPLATE = REPO_ROOT / "template.yaml"
DEFAULT_BUILD_DIR = REPO_ROOT / ".aws-sam" / "build"
PIP_CACHE_DIR = REPO_ROOT / ".local" / "pip-cache"
DEFAULT_LIMIT_MB = 150.0
MB = 1024 * 1024
FUNCTION = "AWS::Serverless::Function"
LAYER = "AWS::Serverless::LayerVersion"
PLATFORMS = {"arm64": "manylinux2014_aarch64", "x86_64": "manylinux2014_x86_64"}
SKIPPED_FILES = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo")

Template = dict[str, Any]
# Where Lambda puts a layer's python/ folder and a function's code: the paths tracebacks show.
LAYER_RUNTIME_PATH = "/opt/python"
FUNCTION_RUNTIME_PATH = "/var/task"
_COMPILE = """
import compileall, py_compile, sys
root, prefix = sys.argv[1], sys.argv[2]
ok = compileall.compile_dir(root, quiet=2, workers=0, stripdir=root, prependdir=prefix,
                            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
"""


class BuildError(Exception):
    """A problem with the template or the build that stops the build."""


@dataclass(frozen=True)
class Target:
    """The Lambda runtime and CPU architecture an artifact is built for."""

    runtime: str
    architecture: str

    @property
    def python_version(self) -> str:
        """The `--python-version` pip needs, e.g. '3.13' for 'python3.13'."""
        if not re.fullmatch(r"python3\.\d+", self.runtime):
            raise BuildError(f"unsupported runtime {self.runtime!r} (expected python3.x)")
        return self.runtime.removeprefix("python")

    @property
    def platform(self) -> str:
        """The `--platform` pip needs for this architecture."""
        if self.architecture not in PLATFORMS:
            raise BuildError(f"unsupported architecture {self.architecture!r}")
        return PLATFORMS[self.architecture]


@dataclass(frozen=True)
class SizeRow:
    """One function's unzipped size: its own code plus every layer it uses."""

    function: str
    own_mb: float
    layers_mb: float
    total_mb: float
    limit_mb: float
    layers: list[str]

    @property
    def over_limit(self) -> bool:
        """True when the function and its layers exceed the limit."""
        return self.total_mb > self.limit_mb


def load_template(path: Path) -> Template:
    """Parse a SAM template (short-form intrinsics such as !Ref become long form) into plain dicts."""
    from cfnlint.decode import decode

    template, matches = decode(str(path))
    if matches or template is None:
        raise BuildError(f"cannot parse {path}: " + "; ".join(str(m) for m in matches))
    return json.loads(json.dumps(template))  # type: ignore[no-any-return]


def merge_globals(global_value: Any, local_value: Any) -> Any:
    """Merge a Globals value into a resource value the way SAM does (maps merge, lists add, scalars replace)."""
    if isinstance(global_value, dict) and isinstance(local_value, dict):
        merged = dict(global_value)
        for key, value in local_value.items():
            merged[key] = merge_globals(merged[key], value) if key in merged else value
        return merged
    if isinstance(global_value, list) and isinstance(local_value, list):
        return global_value + local_value
    return local_value


def resources_of_type(template: Template, resource_type: str) -> dict[str, dict[str, Any]]:
    """The template's resources of one type, by logical id."""
    resources = template.get("Resources", {})
    return {name: res for name, res in resources.items() if res.get("Type") == resource_type}


def function_properties(template: Template, resource: dict[str, Any]) -> dict[str, Any]:
    """A function's properties with Globals.Function merged in."""
    global_props = template.get("Globals", {}).get("Function", {})
    return merge_globals(copy.deepcopy(global_props), resource.get("Properties", {}))  # type: ignore[no-any-return]


def function_target(props: dict[str, Any]) -> Target:
    """The runtime and architecture a function runs on."""
    return Target(props.get("Runtime", ""), (props.get("Architectures") or ["x86_64"])[0])


def layer_target(logical_id: str, resource: dict[str, Any]) -> Target:
    """The one runtime and architecture a layer is built for."""
    props = resource.get("Properties", {})
    runtimes = props.get("CompatibleRuntimes") or []
    if len(runtimes) != 1:
        raise BuildError(f"{logical_id}: CompatibleRuntimes must list exactly one runtime to build for")
    default_arch = resource.get("Metadata", {}).get("BuildArchitecture", "x86_64")
    return Target(runtimes[0], (props.get("CompatibleArchitectures") or [default_arch])[0])


def layer_refs(props: dict[str, Any]) -> list[str]:
    """The logical ids of the template layers a function uses (`!Ref X` entries of Layers)."""
    refs = []
    for entry in props.get("Layers", []):
        if not (isinstance(entry, dict) and isinstance(entry.get("Ref"), str)):
            raise BuildError(f"cannot measure layer {entry!r}: only layers defined in this template (!Ref) are")
        refs.append(entry["Ref"])
    return refs


def check_layer_compatibility(template: Template) -> None:
    """Fail when a function uses a layer built for another runtime or architecture."""
    layers = resources_of_type(template, LAYER)
    for name, resource in resources_of_type(template, FUNCTION).items():
        props = function_properties(template, resource)
        target = function_target(props)
        for ref in layer_refs(props):
            if ref not in layers:
                raise BuildError(f"{name}: layer {ref} is not an {LAYER} of this template")
            layer = layer_target(ref, layers[ref])
            if layer != target:
                raise BuildError(f"{name} runs on {target} but layer {ref} is built for {layer}")


def run(command: list[str], cwd: Path = REPO_ROOT) -> None:
    """Run a command, echoing it, and fail the build if it fails."""
    print("+", " ".join(command), flush=True)
    result = subprocess.run(command, cwd=cwd, check=False)  # noqa: S603 (our own argument list, no shell)
    if result.returncode != 0:
        raise BuildError(f"command failed with exit code {result.returncode}: {command[0]} ...")


def find_make() -> str:
    """The path of GNU make, which layers with `BuildMethod: makefile` need (as `sam build` does)."""
    make = shutil.which("make")
    if make is None:
        raise BuildError("make is not installed; it builds layers with BuildMethod: makefile")
    return make


def pip_install(requirements: Path, destination: Path, target: Target, constraints: Path | None = None) -> None:
    """Install a requirements file into a folder as wheels for the Lambda target (never the host's)."""
    command = [
        sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--quiet", "--upgrade",
        "--no-compile", "--platform", target.platform, "--python-version", target.python_version,
        "--implementation", "cp", "--only-binary=:all:", "--cache-dir", str(PIP_CACHE_DIR),
        "--target", str(destination), "-r", str(requirements),
    ]  # fmt: skip
    if constraints is not None:
        command += ["-c", str(constraints)]
    run(command)


def fresh_dir(path: Path) -> Path:
    """An empty folder at path (anything there before is removed)."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def interpreter_version(python: str) -> str | None:
    """The `X.Y` version of an interpreter, or None if it does not run (a pyenv shim of an inactive version)."""
    try:
        done = subprocess.run(  # noqa: S603 (a path we found, no shell)
            [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
    except OSError:
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def find_python(version: str) -> str | None:
    """An interpreter of `version` (e.g. 3.13) to compile bytecode with: $PYTHON313, PATH, pyenv, /usr/bin."""
    variable = "PYTHON" + version.replace(".", "")
    candidates = [os.environ.get(variable, ""), shutil.which(f"python{version}") or ""]
    pyenv_root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    candidates += sorted(glob.glob(f"{pyenv_root}/versions/{version}*/bin/python{version}"), reverse=True)
    candidates += [f"/usr/bin/python{version}", f"/usr/local/bin/python{version}"]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and interpreter_version(candidate) == version:
            return candidate
    return None


@dataclass
class Bytecode:
    """How the build compiles bytecode: the interpreter (None: sources only) and what it compiled."""

    python: str | None
    version: str
    folders: dict[str, dict[str, int]] = field(default_factory=dict)

    def compile(self, name: str, folder: Path, runtime_path: str) -> None:
        """Compile every .py under folder into __pycache__ (unchecked-hash), recording how many compiled."""
        if self.python is None:
            return
        subprocess.run([self.python, "-c", _COMPILE, str(folder), runtime_path], check=False)  # noqa: S603
        sources = sum(1 for _ in folder.rglob("*.py"))
        tag = "cpython-" + self.version.replace(".", "")
        compiled = sum(1 for _ in folder.rglob(f"__pycache__/*.{tag}.pyc"))
        self.folders[name] = {"py_files": sources, "pyc_files": compiled}


def build_layer(logical_id: str, resource: dict[str, Any], build_dir: Path) -> Path:
    """Build one layer into build_dir/<LogicalId> (python/ inside) and return that folder."""
    out = fresh_dir(build_dir / logical_id)
    source = REPO_ROOT / resource["Properties"]["ContentUri"]
    target = layer_target(logical_id, resource)
    method = resource.get("Metadata", {}).get("BuildMethod")
    if method == "makefile":
        run([
            find_make(), "--no-print-directory", "-f", str(source / "Makefile"), f"build-{logical_id}",
            f"ARTIFACTS_DIR={out}", f"PYTHON={sys.executable}", f"PIP_PLATFORM={target.platform}",
            f"PIP_PYTHON_VERSION={target.python_version}", f"PIP_CACHE_DIR={PIP_CACHE_DIR}",
        ], cwd=source)  # fmt: skip
    elif method:
        shutil.copytree(source, out / "python", ignore=SKIPPED_FILES, dirs_exist_ok=True)
        if (source / "requirements.txt").is_file():
            pip_install(source / "requirements.txt", out / "python", target)
    else:
        shutil.copytree(source, out, ignore=SKIPPED_FILES, dirs_exist_ok=True)
    return out


def normalize(name: str) -> str:
    """A distribution name in PEP 503 normal form."""
    return re.sub(r"[-_.]+", "-", name).lower()


def distributions(site_dir: Path) -> dict[str, tuple[str, Path]]:
    """The distributions installed in a folder: normalized name -> (version, .dist-info folder)."""
    found = {}
    for dist_info in site_dir.glob("*.dist-info"):
        name, _, version = dist_info.name.removesuffix(".dist-info").rpartition("-")
        found[normalize(name)] = (version, dist_info)
    return found


def remove_distribution(site_dir: Path, dist_info: Path) -> None:
    """Delete an installed distribution's files (as listed in its RECORD) and its empty folders."""
    record = dist_info / "RECORD"
    lines = record.read_text().splitlines() if record.is_file() else []
    root = site_dir.resolve()
    emptied: set[Path] = set()
    for line in lines:
        path = (root / line.split(",")[0]).resolve()
        if path.is_relative_to(root) and path.is_file():
            path.unlink()
            emptied.update(p for p in path.parents if p != root and p.is_relative_to(root))
    shutil.rmtree(dist_info, ignore_errors=True)
    for folder in sorted(emptied, key=lambda p: len(p.parts), reverse=True):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def install_function_requirements(out: Path, target: Target, layer_sites: list[Path]) -> None:
    """Install a function's requirements pinned to its layers' versions, then drop what the layers already hold."""
    provided: dict[str, str] = {}
    for site in layer_sites:
        provided.update({name: version for name, (version, _) in distributions(site).items()})
    with tempfile.TemporaryDirectory() as tmp:
        constraints = Path(tmp) / "layers-constraints.txt"
        constraints.write_text("".join(f"{name}=={version}\n" for name, version in sorted(provided.items())))
        pip_install(out / "requirements.txt", out, target, constraints)
    for name, (_, dist_info) in distributions(out).items():
        if name in provided:
            remove_distribution(out, dist_info)


def build_function(logical_id: str, props: dict[str, Any], build_dir: Path) -> Path:
    """Copy a function's CodeUri into build_dir/<LogicalId>, install its requirements.txt, return the folder."""
    out = build_dir / logical_id
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(REPO_ROOT / props["CodeUri"], out, ignore=SKIPPED_FILES)
    if (out / "requirements.txt").is_file():
        layer_sites = [build_dir / ref / "python" for ref in layer_refs(props)]
        install_function_requirements(out, function_target(props), layer_sites)
    return out


def build_id() -> str:
    """This build's id: UTC time and, in a git checkout, the commit."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 (git from PATH, as any developer runs it)
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=10, check=False,
        ).stdout.strip()  # fmt: skip
    except OSError:
        commit = ""
    return f"{stamp}-{commit}" if commit else stamp


def stamp_build_id(template: Template, value: str) -> list[str]:
    """Set BuildId on every custom resource that has one (so a deploy of this build updates it); their ids."""
    stamped = []
    for name, resource in template.get("Resources", {}).items():
        props = resource.get("Properties", {})
        if str(resource.get("Type", "")).startswith("Custom::") and "BuildId" in props:
            props["BuildId"] = value
            stamped.append(name)
    return stamped


def write_built_template(template: Template, build_dir: Path) -> None:
    """Write build_dir/template.yaml with every CodeUri/ContentUri pointing at its built folder (for sam deploy)."""
    built = copy.deepcopy(template)
    for name in resources_of_type(built, FUNCTION):
        built["Resources"][name]["Properties"]["CodeUri"] = name
    for name in resources_of_type(built, LAYER):
        built["Resources"][name]["Properties"]["ContentUri"] = name
    stamp_build_id(built, build_id())
    (build_dir / "template.yaml").write_text(yaml.safe_dump(built, sort_keys=False, width=120))


def selected(template: Template, only: list[str] | None) -> Template:
    """The template with only the named functions and the layers they use (all of it without `only`)."""
    if not only:
        return template
    functions = resources_of_type(template, FUNCTION)
    unknown = set(only) - set(functions)
    if unknown:
        raise BuildError(f"not a function of the template: {', '.join(sorted(unknown))}")
    layers = {ref for name in only for ref in layer_refs(function_properties(template, functions[name]))}
    kept = copy.deepcopy(template)
    kept["Resources"] = {
        name: resource
        for name, resource in template.get("Resources", {}).items()
        if resource.get("Type") not in (FUNCTION, LAYER) or name in only or name in layers
    }
    return kept


def retarget(template: Template, architecture: str | None) -> Template:
    """The template built for another CPU architecture (the benchmarks import artifacts on this machine)."""
    if architecture is None:
        return template
    changed = copy.deepcopy(template)
    changed.setdefault("Globals", {}).setdefault("Function", {})["Architectures"] = [architecture]
    for resource in changed.get("Resources", {}).values():
        if resource.get("Type") == FUNCTION and "Architectures" in resource.get("Properties", {}):
            resource["Properties"]["Architectures"] = [architecture]
        if resource.get("Type") == LAYER:
            resource.setdefault("Metadata", {})["BuildArchitecture"] = architecture
            resource["Properties"]["CompatibleArchitectures"] = [architecture]
    return changed


def runtime_version(template: Template) -> str:
    """The Python version of the template's functions (one for all: the layers are shared)."""
    versions = {
        function_target(function_properties(template, r)).python_version
        for r in resources_of_type(template, FUNCTION).values()
    }
    if len(versions) != 1:
        raise BuildError(f"functions run on several Python versions: {sorted(versions)}")
    return versions.pop()


def build_all(template: Template, build_dir: Path, bytecode: Bytecode) -> None:
    """Build every layer, then every function (each compiled to bytecode when possible), then the built template."""
    build_dir.mkdir(parents=True, exist_ok=True)
    for name, resource in resources_of_type(template, LAYER).items():
        print(f"== layer {name}", flush=True)
        bytecode.compile(name, build_layer(name, resource, build_dir) / "python", LAYER_RUNTIME_PATH)
    for name, resource in resources_of_type(template, FUNCTION).items():
        print(f"== function {name}", flush=True)
        bytecode.compile(
            name, build_function(name, function_properties(template, resource), build_dir), FUNCTION_RUNTIME_PATH
        )
    write_built_template(template, build_dir)
    report = {"python": bytecode.python, "version": bytecode.version, "folders": bytecode.folders}
    (build_dir / "bytecode.json").write_text(json.dumps(report, indent=2) + "\n")


def dir_size(path: Path) -> int:
    """Total size in bytes of the files under a folder (what Lambda counts as unzipped size)."""
    if not path.is_dir():
        raise BuildError(f"{path} does not exist: build first (run without --check-only)")
    total = 0
    for folder, _, files in os.walk(path):
        total += sum(os.lstat(os.path.join(folder, name)).st_size for name in files)
    return total


def size_rows(template: Template, build_dir: Path, default_limit_mb: float) -> list[SizeRow]:
    """Measure every built function together with the layers it uses."""
    rows = []
    for name, resource in resources_of_type(template, FUNCTION).items():
        refs = layer_refs(function_properties(template, resource))
        own = dir_size(build_dir / name) / MB
        layers = sum(dir_size(build_dir / ref) for ref in refs) / MB
        limit = float(resource.get("Metadata", {}).get("MaxUnzippedMB", default_limit_mb))
        rows.append(SizeRow(name, round(own, 2), round(layers, 2), round(own + layers, 2), limit, refs))
    return rows


def print_table(rows: list[SizeRow]) -> None:
    """Print the sizes as an aligned table, flagging functions over their limit."""
    header = ("function", "own MB", "layers MB", "total MB", "limit MB", "")
    lines = [header] + [
        (r.function, f"{r.own_mb:.2f}", f"{r.layers_mb:.2f}", f"{r.total_mb:.2f}", f"{r.limit_mb:g}",
         "OVER LIMIT" if r.over_limit else "ok")
        for r in rows
    ]  # fmt: skip
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        pairs = enumerate(zip(line, widths, strict=True))
        cells = [cell.ljust(width) if i == 0 else cell.rjust(width) for i, (cell, width) in pairs]
        print("  ".join(cells).rstrip())


def write_sizes(rows: list[SizeRow], build_dir: Path) -> Path:
    """Write the size table as JSON next to the build and return its path."""
    path = build_dir / "sizes.json"
    payload = [{**asdict(r), "over_limit": r.over_limit} for r in rows]
    path.write_text(json.dumps({"unit": "MiB (2**20 bytes)", "functions": payload}, indent=2) + "\n")
    return path


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line: template, build folder, default limit, --check-only, --only and --architecture."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE, help="SAM template (default: %(default)s)")
    parser.add_argument("--build-dir", type=Path, default=DEFAULT_BUILD_DIR, help="output (default: %(default)s)")
    parser.add_argument("--limit-mb", type=float, default=DEFAULT_LIMIT_MB, help="default unzipped limit per function")
    parser.add_argument("--check-only", action="store_true", help="skip the build, only recompute and check sizes")
    parser.add_argument("--only", help="comma-separated functions to build (with their layers); default: all")
    parser.add_argument(
        "--architecture", choices=sorted(PLATFORMS), help="build for this CPU instead of the template's"
    )
    return parser.parse_args(argv)


def bytecode_for(template: Template) -> Bytecode:
    """The bytecode compiler for the template's runtime, saying clearly when there is none."""
    version = runtime_version(template)
    python = find_python(version)
    if python is None:
        print(
            f"bytecode: no python{version} found (set PYTHON{version.replace('.', '')}, or `make python{version}`):"
            " shipping sources only, so every cold start compiles them",
            file=sys.stderr,
        )
    else:
        print(f"bytecode: compiling for python{version} with {python}")
    return Bytecode(python, version)


def main(argv: list[str] | None = None) -> int:
    """Build (unless --check-only), print and write the sizes; 1 if anything fails or is over its limit."""
    args = parse_args(argv)
    try:
        template = retarget(selected(load_template(args.template), _names(args.only)), args.architecture)
        check_layer_compatibility(template)
        if not args.check_only:
            build_all(template, args.build_dir, bytecode_for(template))
        rows = size_rows(template, args.build_dir, args.limit_mb)
    except BuildError as error:
        print(f"build failed: {error}", file=sys.stderr)
        return 1
    print_table(rows)
    print(f"sizes written to {write_sizes(rows, args.build_dir)}")
    over = [r.function for r in rows if r.over_limit]
    if over:
        print(f"over the unzipped size limit: {', '.join(over)}", file=sys.stderr)
        return 1
    return 0


def _names(only: str | None) -> list[str] | None:
    return [name.strip() for name in only.split(",") if name.strip()] if only else None


if __name__ == "__main__":
    sys.exit(main())

"""Build every layer and function of template.yaml for its Lambda target without Docker, then check sizes.

Layers and function dependencies are installed with pip's cross-platform flags (manylinux wheels for the
template's runtime and architecture), so a Python 3.11 x86_64 machine builds python3.13/arm64 artifacts.
The output mirrors `sam build`: `.aws-sam/build/<LogicalId>/` per resource plus `.aws-sam/build/template.yaml`
pointing at them, which `sam deploy` picks up. Each function plus the layers it uses must stay under its
unzipped size limit (150 MB, or the resource's `Metadata: {MaxUnzippedMB: N}`); the table is also written to
`.aws-sam/build/sizes.json`.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
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


def write_built_template(template: Template, build_dir: Path) -> None:
    """Write build_dir/template.yaml with every CodeUri/ContentUri pointing at its built folder (for sam deploy)."""
    built = copy.deepcopy(template)
    for name in resources_of_type(built, FUNCTION):
        built["Resources"][name]["Properties"]["CodeUri"] = name
    for name in resources_of_type(built, LAYER):
        built["Resources"][name]["Properties"]["ContentUri"] = name
    (build_dir / "template.yaml").write_text(yaml.safe_dump(built, sort_keys=False, width=120))


def build_all(template: Template, build_dir: Path) -> None:
    """Build every layer, then every function, then the built template."""
    build_dir.mkdir(parents=True, exist_ok=True)
    for name, resource in resources_of_type(template, LAYER).items():
        print(f"== layer {name}", flush=True)
        build_layer(name, resource, build_dir)
    for name, resource in resources_of_type(template, FUNCTION).items():
        print(f"== function {name}", flush=True)
        build_function(name, function_properties(template, resource), build_dir)
    write_built_template(template, build_dir)


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
    """The command line: template, build folder, default limit and --check-only."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE, help="SAM template (default: %(default)s)")
    parser.add_argument("--build-dir", type=Path, default=DEFAULT_BUILD_DIR, help="output (default: %(default)s)")
    parser.add_argument("--limit-mb", type=float, default=DEFAULT_LIMIT_MB, help="default unzipped limit per function")
    parser.add_argument("--check-only", action="store_true", help="skip the build, only recompute and check sizes")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Build (unless --check-only), print and write the sizes; 1 if anything fails or is over its limit."""
    args = parse_args(argv)
    try:
        template = load_template(args.template)
        check_layer_compatibility(template)
        if not args.check_only:
            build_all(template, args.build_dir)
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


if __name__ == "__main__":
    sys.exit(main())

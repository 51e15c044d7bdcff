"""scripts/build.py: bytecode the runtime never recompiles, a build id for the migration, subsets for benchmarks."""

from __future__ import annotations

import importlib.util
import marshal
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def build() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_script", REPO_ROOT / "scripts" / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def template(build: ModuleType) -> dict[str, Any]:
    return build.load_template(REPO_ROOT / "template.yaml")  # type: ignore[no-any-return]


def test_bytecode_is_unchecked_hash_and_names_the_lambda_path(build: ModuleType, tmp_path: Path) -> None:
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    package = tmp_path / "python" / "pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("VALUE = 42\n")
    bytecode = build.Bytecode(sys.executable, version)

    bytecode.compile("Layer", tmp_path / "python", build.LAYER_RUNTIME_PATH)

    [pyc] = (package / "__pycache__").glob("__init__.cpython-*.pyc")
    data = pyc.read_bytes()
    assert int.from_bytes(data[4:8], "little") == 0b01, "hash-based and never checked against the source"
    code = marshal.loads(data[16:])  # noqa: S302 (a file this test just wrote)
    assert code.co_filename == "/opt/python/pkg/__init__.py"
    assert bytecode.folders["Layer"] == {"py_files": 1, "pyc_files": 1}


def test_without_an_interpreter_of_the_runtime_version_sources_ship_alone(build: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("x = 1\n")
    bytecode = build.Bytecode(None, "3.13")
    bytecode.compile("Fn", tmp_path, build.FUNCTION_RUNTIME_PATH)
    assert not list(tmp_path.rglob("*.pyc")) and bytecode.folders == {}


def test_find_python_takes_the_variable_only_when_its_version_matches(
    build: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    monkeypatch.setenv("PYTHON" + version.replace(".", ""), sys.executable)
    assert build.find_python(version) == sys.executable
    assert build.interpreter_version("/nonexistent/python") is None


def test_the_migration_resource_gets_this_build_id(build: ModuleType, template: dict[str, Any]) -> None:
    stamped = dict(template, Resources={k: dict(v) for k, v in template["Resources"].items()})
    stamped["Resources"]["DatabaseMigration"]["Properties"] = dict(
        template["Resources"]["DatabaseMigration"]["Properties"]
    )
    assert build.stamp_build_id(stamped, "20261205T000000Z-abc1234") == ["DatabaseMigration"]
    assert stamped["Resources"]["DatabaseMigration"]["Properties"]["BuildId"] == "20261205T000000Z-abc1234"
    assert re.fullmatch(r"\d{8}T\d{6}Z(-[0-9a-f]{4,40})?", build.build_id())


def test_a_subset_keeps_its_layers_and_can_target_this_machine(build: ModuleType, template: dict[str, Any]) -> None:
    subset = build.retarget(build.selected(template, ["ApiFunction", "AuthorizerFunction"]), "x86_64")
    kinds = build.resources_of_type
    assert set(kinds(subset, build.FUNCTION)) == {"ApiFunction", "AuthorizerFunction"}
    assert set(kinds(subset, build.LAYER)) == {"SharedLayer"}
    build.check_layer_compatibility(subset)  # functions and layers agree on the new architecture
    assert subset["Globals"]["Function"]["Architectures"] == ["x86_64"]
    assert template["Globals"]["Function"]["Architectures"] == ["arm64"], "the template itself is unchanged"
    with pytest.raises(build.BuildError, match="NoSuchFunction"):
        build.selected(template, ["NoSuchFunction"])

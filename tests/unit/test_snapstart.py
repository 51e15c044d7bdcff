"""SnapStart: the Api and Authorizer register restore hooks; the hooks reseed randomness and forget connections."""

from __future__ import annotations

import random
import sys

import pytest
import snapshot_restore_py
from viral import snapstart
from viral.identity.key_lookup import reset_key_lookup

from tests.events import load_handler


def _registered() -> list[object]:
    return [hook for hook, _args, _kwargs in snapshot_restore_py.get_after_restore()]


@pytest.mark.parametrize("function", ["api", "authorizer"])
def test_the_snapstart_functions_register_the_restore_hooks(function: str) -> None:
    load_handler(function)
    assert snapstart.reset_after_restore in _registered()


def test_the_authorizer_also_forgets_its_key_lookup_connection() -> None:
    load_handler("authorizer")
    assert reset_key_lookup in _registered()


def test_restoring_reseeds_random_so_copies_of_one_snapshot_draw_differently() -> None:
    random.seed(1234)
    from_snapshot = [random.random() for _ in range(3)]
    random.seed(1234)
    snapstart.reset_after_restore()
    assert [random.random() for _ in range(3)] != from_snapshot


def test_restoring_without_an_engine_never_imports_sqlalchemy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "viral.db.engine", raising=False)
    snapstart.reset_after_restore()
    assert "viral.db.engine" not in sys.modules


def test_without_the_runtime_hooks_library_registering_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)  # import fails, as outside Lambda's runtime
    assert snapstart.register_after_restore(lambda: None) is False

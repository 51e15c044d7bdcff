"""Lambda SnapStart: what an execution environment restored from a snapshot redoes before its first request.

One snapshot is restored into many environments, so none may keep a connection (its socket belongs to the
environment that took the snapshot) or a random state (every copy would draw the same numbers). The engine is
built lazily, so a snapshot taken right after init holds no connection; the hooks make sure of it anyway.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable
from typing import Any


def register_after_restore(hook: Callable[[], Any]) -> bool:
    """Run `hook` after every restore; False (nothing registered) where the runtime hooks library is absent.

    Lambda's Python runtimes (3.12 and newer) provide `snapshot_restore_py`; local runs may not have it.
    """
    try:
        from snapshot_restore_py import register_after_restore as register
    except ImportError:
        return False
    register(hook)
    return True


def reset_after_restore() -> None:
    """Forget the engine's pooled connections (if an engine was ever built) and reseed `random`."""
    engine = sys.modules.get("viral.db.engine")  # never import SQLAlchemy here: the authorizer does without it
    if engine is not None:
        engine.drop_connections()
    random.seed()

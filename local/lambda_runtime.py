"""Each function of the template as one local execution environment: its handler imported once, one call at a time."""

from __future__ import annotations

import importlib.util
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from local.template import FunctionSpec

LOCAL_REGION = "us-east-1"
LOCAL_ACCOUNT = "123456789012"

Handler = Callable[[Any, Any], Any]


@dataclass
class LocalContext:
    """The parts of Lambda's context object that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int
    timeout_s: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    identity: Any = None
    client_context: Any = None
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_s

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"local/[{self.function_version}]{self.aws_request_id}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class LambdaFunction:
    """A function's handler, imported from its CodeUri on first use.

    Every function's module is called `app.py`, so each is imported by file path under its own module name.
    Calls are serialized, as in one Lambda execution environment: handlers keep per-invocation state in
    module globals (the Powertools resolver's current event, the one-connection engine pool).
    """

    def __init__(self, spec: FunctionSpec) -> None:
        self.spec = spec
        self._handler: Handler | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.spec.logical_id

    def invoke(self, event: Any, *, request_id: str | None = None) -> Any:
        """Call the handler with `event` and a fresh context; its exceptions propagate."""
        context = LocalContext(
            function_name=self.spec.logical_id,
            memory_limit_in_mb=self.spec.memory_mb,
            timeout_s=self.spec.timeout_s,
            aws_request_id=request_id or str(uuid.uuid4()),
        )
        with self._lock:
            return self._load()(event, context)

    def _load(self) -> Handler:
        if self._handler is None:
            module = _import_by_path(f"local_function_{self.spec.logical_id}", self.spec)
            handler = getattr(module, self.spec.attribute, None)
            if not callable(handler):
                raise ImportError(f"{self.spec.module_path} has no callable {self.spec.attribute!r}")
            self._handler = handler
        return self._handler


def _import_by_path(module_name: str, spec: FunctionSpec) -> ModuleType:
    module_spec = importlib.util.spec_from_file_location(module_name, spec.module_path)
    if module_spec is None or module_spec.loader is None:
        raise ImportError(f"cannot import {spec.module_path}")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module

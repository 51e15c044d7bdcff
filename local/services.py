"""What the runner starts and stops, in order: AWS emulation, database, S3 notifications, pollers, schedules, HTTP."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from types import TracebackType
from typing import Protocol

log = logging.getLogger("local.services")


class Service(Protocol):
    """A part of the local system that runs in the background until stopped."""

    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...


class ServiceGroup:
    """Starts services in order and stops the started ones in reverse, even when one of them fails."""

    def __init__(self, services: Sequence[Service]) -> None:
        self.services = list(services)
        self._started: list[Service] = []

    def start(self) -> None:
        try:
            for service in self.services:
                service.start()
                self._started.append(service)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        while self._started:
            service = self._started.pop()
            try:
                service.stop()
            except Exception:
                log.exception("service %s did not stop cleanly", service.name)

    def __enter__(self) -> ServiceGroup:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

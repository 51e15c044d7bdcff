"""AWS on one machine: moto's server, the template's queues and buckets in it, and the functions' environment.

Handlers reach moto with unchanged code: boto3 honours AWS_ENDPOINT_URL. moto keeps its state in memory, so every
start of `make run` begins with empty queues and buckets (the database keeps its data).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Any

from local.stack import BucketSpec, LocalEnvironment, LocalStack, QueueSpec, StackResolver
from local.template import SamTemplate

log = logging.getLogger("local.aws")

# Credentials moto accepts; never real ones, whatever the developer's shell holds.
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}
# Shell settings that would send boto3 somewhere else than moto, or make it look for a profile.
_REMOVED = ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")


class LocalAws:
    """The `aws` service: moto's server on host:port (0: a free one) holding the local stack's resources.

    The port is settled when the service is made, so queue URLs are known before it starts. On start it creates
    every queue (attributes, redrive policy) and bucket of the template, then sets the environment every
    function sees in this one process; on stop it puts the environment back and stops moto.
    """

    name = "aws"

    def __init__(self, template: SamTemplate, *, stack_name: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.template = template
        self.stack_name = stack_name
        self.host = host
        self.port = port or _free_port(host)
        self.stack = LocalStack(name=stack_name, endpoint_url=f"http://{host}:{self.port}")
        self.resolver = StackResolver(template, self.stack)
        self.queues: dict[str, QueueSpec] = {}
        self.buckets: dict[str, BucketSpec] = {}
        self.environment = LocalEnvironment()
        self.overridden: set[str] = set()  # variables whose shell value the template's replaced
        self._server: Any = None
        self._saved_environment: dict[str, str | None] = {}
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()

    @property
    def endpoint_url(self) -> str:
        return self.stack.endpoint_url

    def start(self) -> None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per moto request otherwise
        _check_port_free(self.host, self.port)  # moto's thread would fail silently, and start() wait forever
        self._server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        self._server.start()
        try:
            self._create_resources()
            self.environment = self.resolver.environment()
            self._apply_environment()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        self._restore_environment()
        with self._clients_lock:
            self._clients.clear()
        if self._server is not None:
            self._server.stop()
            self._server = None

    def client(self, service: str) -> Any:
        """A boto3 client on moto for the runtime's own use (pollers), independent of the process environment.

        One per service, shared: botocore clients are thread-safe, and each new session costs a model load.
        """
        with self._clients_lock:
            if service not in self._clients:
                import boto3
                from botocore.config import Config

                self._clients[service] = boto3.session.Session().client(
                    service,
                    endpoint_url=self.endpoint_url,
                    region_name=self.stack.region,
                    aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                    aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                    config=Config(
                        retries={"max_attempts": 2, "mode": "standard"},
                        connect_timeout=2,
                        read_timeout=30,
                        max_pool_connections=50,  # every poller holds one for its long poll
                    ),
                )
            return self._clients[service]

    def _create_resources(self) -> None:
        sqs = self.client("sqs")
        for queue in self.resolver.queues():
            url = sqs.create_queue(QueueName=queue.name, Attributes=queue.attributes)["QueueUrl"]
            if url != queue.url:
                raise RuntimeError(f"moto named {queue.logical_id} {url}, not {queue.url}")
            self.queues[queue.logical_id] = queue
        s3 = self.client("s3")
        for bucket in self.resolver.buckets():
            # Policies, encryption and lifecycle rules are not applied locally (moto serves plain HTTP).
            s3.create_bucket(Bucket=bucket.name)
            self.buckets[bucket.logical_id] = bucket

    def _apply_environment(self) -> None:
        """The functions' variables, then moto's endpoint and dummy credentials, in os.environ for every handler."""
        wanted: dict[str, str | None] = {
            **self.environment.values,
            **DUMMY_CREDENTIALS,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_DEFAULT_REGION": self.stack.region,
            "AWS_REGION": self.stack.region,
        }
        removed = [name for name in os.environ if name.startswith("AWS_ENDPOINT_URL_")]
        wanted.update(dict.fromkeys((*_REMOVED, *removed)))
        for name, value in wanted.items():
            previous = os.environ.get(name)
            self._saved_environment.setdefault(name, previous)
            if name in self.environment.values and previous not in (None, value):
                self.overridden.add(name)
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        _forget_cached_configuration()

    def _restore_environment(self) -> None:
        for name, value in self._saved_environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if self._saved_environment:
            _forget_cached_configuration()
        self._saved_environment = {}

    def describe(self) -> list[str]:
        """What was wired, for the start banner."""
        lines = [f"AWS (moto)   {self.endpoint_url}  (in memory: queues and buckets start empty on every run)"]
        for queue in self.queues.values():
            redrive = ""
            if queue.dead_letter_queue is not None:
                target = self.queues[queue.dead_letter_queue].name
                redrive = f", to {target} after {queue.max_receive_count} receives"
            lines.append(f"  queue  {queue.name}  (visibility {queue.visibility_timeout_s} s{redrive})")
        lines.extend(f"  bucket {bucket.name}" for bucket in self.buckets.values())
        # Names only: a value may be a secret.
        lines.extend(f"  note   {name}: the template's value replaces your shell's" for name in sorted(self.overridden))
        lines.extend(f"  WARNING environment conflict: {conflict}" for conflict in self.environment.conflicts)
        lines.extend(f"  WARNING not set: {skipped}" for skipped in self.environment.skipped)
        return lines


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise OSError(error.errno, f"moto's server cannot listen on {host}:{port}: {error.strerror}") from error


def _forget_cached_configuration() -> None:
    """Settings and boto3 clients read the environment once; the next use must see the local values."""
    from viral.aws import reset_clients
    from viral.settings import get_settings

    get_settings.cache_clear()
    reset_clients()

"""Endpoint signing secrets at rest: sealed with a local AES-GCM key (local runs, tests) or with AWS KMS.

A sealed value names its scheme (`local:v1:` or `kms:v1:`) and is bound to its tenant and endpoint (AES-GCM
associated data, or the KMS encryption context), so a sealed secret copied onto another row does not open.
"""

from __future__ import annotations

import base64
import binascii
import os
import uuid
from collections import OrderedDict
from threading import Lock
from typing import Protocol

from viral.errors import Permanent, Retryable
from viral.settings import Settings

LOCAL = "local:v1:"
KMS = "kms:v1:"
NONCE_BYTES = 12


class SecretBox(Protocol):
    """Seals and opens small secrets, bound to the row they belong to."""

    def seal(self, plaintext: bytes, *, tenant_id: uuid.UUID, endpoint_id: uuid.UUID) -> str: ...

    def open(self, sealed: str, *, tenant_id: uuid.UUID, endpoint_id: uuid.UUID) -> bytes: ...


def _context(tenant_id: uuid.UUID, endpoint_id: uuid.UUID) -> dict[str, str]:
    return {"tenant": str(tenant_id), "endpoint": str(endpoint_id)}


class LocalKeyBox:
    """AES-256-GCM with a key from the settings (WEBHOOK_SECRET_KEY, base64 of 32 bytes)."""

    def __init__(self, key: bytes) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        if len(key) != 32:
            raise ValueError("WEBHOOK_SECRET_KEY must be 32 bytes (base64)")
        self._aead = AESGCM(key)

    @staticmethod
    def _aad(tenant_id: uuid.UUID, endpoint_id: uuid.UUID) -> bytes:
        return f"webhook-secret:{tenant_id}:{endpoint_id}".encode()

    def seal(self, plaintext: bytes, *, tenant_id: uuid.UUID, endpoint_id: uuid.UUID) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext, self._aad(tenant_id, endpoint_id))
        return LOCAL + base64.b64encode(nonce + sealed).decode()

    def open(self, sealed: str, *, tenant_id: uuid.UUID, endpoint_id: uuid.UUID) -> bytes:
        from cryptography.exceptions import InvalidTag

        if not sealed.startswith(LOCAL):
            raise Permanent("the signing secret was sealed by another key scheme")
        try:
            raw = base64.b64decode(sealed[len(LOCAL) :])
            return self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], self._aad(tenant_id, endpoint_id))
        except (InvalidTag, binascii.Error, ValueError) as exc:
            raise Permanent("the signing secret does not open with this key") from exc


class KmsBox:
    """AWS KMS Encrypt/Decrypt with the endpoint as encryption context (the secrets are far below 4 KB)."""

    def __init__(self, key_id: str) -> None:
        self.key_id = key_id

    def seal(self, plaintext: bytes, *, tenant_id: uuid.UUID, endpoint_id: uuid.UUID) -> str:
        from viral.aws import client

        answer = client("kms").encrypt(
            KeyId=self.key_id, Plaintext=plaintext, EncryptionContext=_context(tenant_id, endpoint_id)
        )
        return KMS + base64.b64encode(answer["CiphertextBlob"]).decode()

    def open(self, sealed: str, *, tenant_id: uuid.UUID, endpoint_id: uuid.UUID) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        from viral.aws import client

        if not sealed.startswith(KMS):
            raise Permanent("the signing secret was sealed by another key scheme")
        try:
            answer = client("kms").decrypt(
                CiphertextBlob=base64.b64decode(sealed[len(KMS) :]),
                EncryptionContext=_context(tenant_id, endpoint_id),
                KeyId=self.key_id,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("InvalidCiphertextException", "IncorrectKeyException"):
                raise Permanent("the signing secret does not open with this key") from exc
            raise Retryable("KMS could not open the signing secret") from exc
        except BotoCoreError as exc:
            raise Retryable("KMS could not open the signing secret") from exc
        return bytes(answer["Plaintext"])


def secret_box(settings: Settings) -> SecretBox:
    """KMS when a key id is configured, else the local key; neither is a configuration error (nothing is stored
    in clear)."""
    if settings.webhook_kms_key_id:
        return KmsBox(settings.webhook_kms_key_id)
    if settings.webhook_secret_key:
        try:
            key = base64.b64decode(settings.webhook_secret_key, validate=True)
        except binascii.Error as exc:
            raise RuntimeError("WEBHOOK_SECRET_KEY is not base64") from exc
        return LocalKeyBox(key)
    raise RuntimeError("no key seals webhook secrets: set WEBHOOK_KMS_KEY_ID or WEBHOOK_SECRET_KEY")


class OpenedSecrets:
    """Opened secrets kept per execution environment (a KMS call per attempt would cost time and money)."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._entries: OrderedDict[str, bytes] = OrderedDict()
        self._lock = Lock()

    def open(self, box: SecretBox, sealed: str, *, tenant_id: uuid.UUID, endpoint_id: uuid.UUID) -> bytes:
        key = f"{tenant_id}:{endpoint_id}:{sealed}"
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                return found
        opened = box.open(sealed, tenant_id=tenant_id, endpoint_id=endpoint_id)
        with self._lock:
            self._entries[key] = opened
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return opened


opened_secrets = OpenedSecrets()

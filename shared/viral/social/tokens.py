"""Platform tokens encrypted at rest with envelope encryption: a fresh data key per token (AES-256-GCM), wrapped
by a key-encryption key that never leaves its keeper (KMS in AWS, a key file under `.local/` locally). The id of
the wrapping key is stored beside every ciphertext, so keys can rotate: old rows stay readable by their key id.

A sealed token reads `v1.<b64 wrapped data key>.<b64 nonce + ciphertext>`; nothing in it is the plaintext.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from viral.errors import Permanent, Retryable
from viral.settings import Settings, get_settings

VERSION = "v1"


class TokenUnreadable(Permanent):
    """A stored token cannot be decrypted (wrong or missing key): the account must be reconnected."""


class KeyKeeper(Protocol):
    """Wraps and unwraps data keys; `key_id` names the key that wraps new ones."""

    key_id: str

    def wrap(self, data_key: bytes) -> bytes: ...

    def unwrap(self, key_id: str, wrapped: bytes) -> bytes: ...


class LocalKeyKeeper:
    """A 256-bit key in a file (made on first use, mode 600): `make run` and tests. Older keys may be listed in
    `previous` so rows sealed under them stay readable after a rotation."""

    def __init__(self, path: Path, previous: tuple[bytes, ...] = ()) -> None:
        self._key = _load_or_create(path)
        self.key_id = _local_id(self._key)
        self._keys = {self.key_id: self._key, **{_local_id(k): k for k in previous}}

    def wrap(self, data_key: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + AESGCM(self._key).encrypt(nonce, data_key, self.key_id.encode())

    def unwrap(self, key_id: str, wrapped: bytes) -> bytes:
        key = self._keys.get(key_id)
        if key is None:
            raise TokenUnreadable("the token was sealed with a key this environment does not hold")
        try:
            return AESGCM(key).decrypt(wrapped[:12], wrapped[12:], key_id.encode())
        except InvalidTag as exc:
            raise TokenUnreadable("the token's data key does not open") from exc


def _local_id(key: bytes) -> str:
    return "local:" + hashlib.sha256(key).hexdigest()[:16]


def _load_or_create(path: Path) -> bytes:
    try:
        return base64.b64decode(path.read_text(encoding="ascii").strip(), validate=True)
    except FileNotFoundError:
        pass
    key = secrets.token_bytes(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    partial.write_text(base64.b64encode(key).decode() + "\n", encoding="ascii")
    partial.chmod(0o600)
    os.replace(partial, path)
    return key


class KmsKeyKeeper:
    """AWS KMS: the key id is the KMS key's ARN (KMS itself knows which key wrapped a blob)."""

    def __init__(self, key_id: str) -> None:
        self.key_id = key_id

    def wrap(self, data_key: bytes) -> bytes:
        return bytes(self._call("Encrypt", KeyId=self.key_id, Plaintext=data_key)["CiphertextBlob"])

    def unwrap(self, key_id: str, wrapped: bytes) -> bytes:
        return bytes(self._call("Decrypt", KeyId=key_id, CiphertextBlob=wrapped)["Plaintext"])

    @staticmethod
    def _call(operation: str, **kwargs: object) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        from viral.aws import client

        method = getattr(client("kms"), "encrypt" if operation == "Encrypt" else "decrypt")
        try:
            return dict(method(**kwargs))
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("InvalidCiphertextException", "IncorrectKeyException", "NotFoundException"):
                raise TokenUnreadable("KMS cannot open the token's data key") from exc
            raise Retryable("KMS did not answer") from exc
        except BotoCoreError as exc:
            raise Retryable("KMS is unreachable") from exc


@dataclass(frozen=True)
class Sealed:
    ciphertext: str
    key_id: str


class TokenBox:
    """Seals and opens tokens with one keeper."""

    def __init__(self, keeper: KeyKeeper) -> None:
        self.keeper = keeper

    def seal(self, plaintext: str) -> Sealed:
        data_key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(12)
        body = nonce + AESGCM(data_key).encrypt(nonce, plaintext.encode(), None)
        wrapped = self.keeper.wrap(data_key)
        text = ".".join((VERSION, _b64(wrapped), _b64(body)))
        return Sealed(ciphertext=text, key_id=self.keeper.key_id)

    def open(self, sealed: str, key_id: str) -> str:
        try:
            version, wrapped, body = sealed.split(".")
            if version != VERSION:
                raise ValueError(version)
            raw = _unb64(body)
            data_key = self.keeper.unwrap(key_id, _unb64(wrapped))
            return AESGCM(data_key).decrypt(raw[:12], raw[12:], None).decode()
        except (ValueError, InvalidTag) as exc:
            raise TokenUnreadable("a stored token is malformed") from exc


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def keeper_for(settings: Settings) -> KeyKeeper:
    """The local key file in local runs and tests (`make run` has no KMS), KMS everywhere else (required)."""
    if settings.stage in ("local", "test"):
        return LocalKeyKeeper(settings.token_key_file)
    if not settings.token_kms_key_id:
        raise RuntimeError("TOKEN_KMS_KEY_ID is required outside local runs and tests")
    return KmsKeyKeeper(settings.token_kms_key_id)


@lru_cache(maxsize=1)
def token_box() -> TokenBox:
    return TokenBox(keeper_for(get_settings()))


def reset_token_box() -> None:
    token_box.cache_clear()

"""Envelope encryption of platform tokens: a data key per token, wrapped by a key keeper that names its key."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from viral.settings import Settings
from viral.social.oauth import StateRefused, new_state, pkce_challenge, pkce_verifier, read_state
from viral.social.tokens import KmsKeyKeeper, LocalKeyKeeper, TokenBox, TokenUnreadable, keeper_for


def test_a_sealed_token_holds_no_plaintext_and_opens_with_its_key_id(tmp_path: Path) -> None:
    box = TokenBox(LocalKeyKeeper(tmp_path / "key"))
    sealed = box.seal("act.secret-token-value")
    assert "secret-token-value" not in sealed.ciphertext
    assert sealed.ciphertext.startswith("v1.") and sealed.key_id.startswith("local:")
    assert box.open(sealed.ciphertext, sealed.key_id) == "act.secret-token-value"
    assert box.seal("act.secret-token-value").ciphertext != sealed.ciphertext  # a fresh data key and nonce


def test_the_key_file_is_created_once_with_owner_only_access(tmp_path: Path) -> None:
    first = LocalKeyKeeper(tmp_path / "key")
    assert (tmp_path / "key").stat().st_mode & 0o777 == 0o600
    assert LocalKeyKeeper(tmp_path / "key").key_id == first.key_id


def test_after_a_key_rotation_old_rows_stay_readable_and_new_ones_use_the_new_key(tmp_path: Path) -> None:
    old = LocalKeyKeeper(tmp_path / "old")
    sealed = TokenBox(old).seal("rft.old")
    old_key = base64.b64decode((tmp_path / "old").read_text())
    rotated = TokenBox(LocalKeyKeeper(tmp_path / "new", previous=(old_key,)))
    assert rotated.open(sealed.ciphertext, sealed.key_id) == "rft.old"
    assert rotated.seal("rft.new").key_id != sealed.key_id
    with pytest.raises(TokenUnreadable):
        TokenBox(LocalKeyKeeper(tmp_path / "other")).open(sealed.ciphertext, sealed.key_id)


def test_a_tampered_ciphertext_is_refused(tmp_path: Path) -> None:
    box = TokenBox(LocalKeyKeeper(tmp_path / "key"))
    sealed = box.seal("act.value")
    version, wrapped, body = sealed.ciphertext.split(".")
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    with pytest.raises(TokenUnreadable):
        box.open(f"{version}.{wrapped}.{flipped}", sealed.key_id)


def test_kms_wraps_the_data_key_in_deployed_stages(monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3
    from moto import mock_aws
    from viral.aws import reset_clients

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        reset_clients()
        key = boto3.client("kms").create_key()["KeyMetadata"]["Arn"]
        keeper = keeper_for(Settings(stage="prod", token_kms_key_id=key))
        assert isinstance(keeper, KmsKeyKeeper)
        box = TokenBox(keeper)
        sealed = box.seal("ya29.google-token")
        assert sealed.key_id == key and "google-token" not in sealed.ciphertext
        assert box.open(sealed.ciphertext, sealed.key_id) == "ya29.google-token"
        reset_clients()


def test_deployed_stages_never_fall_back_to_a_key_file() -> None:
    with pytest.raises(RuntimeError):
        keeper_for(Settings(stage="dev", token_kms_key_id=None))


def test_a_state_is_bound_to_its_platform_and_signature_and_pkce_matches() -> None:
    import uuid

    key = b"k" * 32
    tenant = uuid.uuid4()
    state, payload = new_state(key, tenant_id=tenant, user_id=None, platform="tiktok")
    assert read_state(key, state, platform="tiktok").tenant_id == tenant
    with pytest.raises(StateRefused):
        read_state(key, state, platform="youtube")
    with pytest.raises(StateRefused):
        read_state(b"x" * 32, state, platform="tiktok")
    verifier = pkce_verifier(key, payload.nonce)
    assert 43 <= len(verifier) <= 128 and pkce_challenge(verifier) != verifier


def test_the_sandbox_is_offered_in_local_runs_and_tests_only() -> None:
    assert Settings(stage="local").sandbox_available and Settings(stage="test").sandbox_available
    assert not Settings(stage="dev").sandbox_available and not Settings(stage="prod").sandbox_available
    assert not Settings(stage="test", sandbox_enabled=False).sandbox_available

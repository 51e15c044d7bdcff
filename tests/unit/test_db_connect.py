"""Where the database is and how it is reached: RDS-managed secrets, host settings and TLS against the operator's CA."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import socket
import ssl
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from moto import mock_aws
from viral.db import connect
from viral.db.connect import connect_params, session_options
from viral.db.engine import database_url
from viral.errors import InvalidInput
from viral.settings import Settings


@pytest.fixture
def secrets() -> Iterator[object]:
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")


def _from_secret(**values: object) -> Settings:
    """Settings that locate the database by secret (a DATABASE_URL in the environment would win)."""
    return Settings(database_url=None, **values)  # type: ignore[arg-type]


def _secret(client: object, value: dict[str, object]) -> str:
    name = f"viral/test/db-{uuid.uuid4().hex[:8]}"  # Powertools caches by name: one name per test
    client.create_secret(Name=name, SecretString=json.dumps(value))  # type: ignore[attr-defined]
    return name


def test_an_rds_managed_secret_with_host_port_and_name_from_settings(secrets: object) -> None:
    name = _secret(secrets, {"username": "viral_runtime", "password": "not-a-real-password"})
    settings = _from_secret(db_secret_name=name, db_host="db.internal.example", db_port=6432, db_name="viral")

    params = connect_params(settings)

    assert (params["user"], params["password"]) == ("viral_runtime", "not-a-real-password")
    assert (params["host"], params["port"], params["database"]) == ("db.internal.example", 6432, "viral")
    assert params["ssl_context"].verify_mode == ssl.CERT_REQUIRED  # secrets default to verify-full
    assert params["ssl_context"].check_hostname is True


def test_settings_win_over_the_secret_host_so_one_secret_serves_through_a_proxy(secrets: object) -> None:
    name = _secret(
        secrets,
        {"username": "u", "password": "p", "host": "instance.example", "port": 5432, "dbname": "viral"},
    )
    through_proxy = connect_params(_from_secret(db_secret_name=name, db_host="proxy.example"))
    direct = connect_params(_from_secret(db_secret_name=name))
    assert (through_proxy["host"], through_proxy["port"], through_proxy["database"]) == ("proxy.example", 5432, "viral")
    assert direct["host"] == "instance.example"


def test_a_secret_without_host_needs_db_host(secrets: object) -> None:
    name = _secret(secrets, {"username": "u", "password": "p"})
    with pytest.raises(InvalidInput, match="DB_HOST"):
        connect_params(_from_secret(db_secret_name=name))


def test_a_secret_without_password_is_refused_by_name_of_the_missing_key(secrets: object) -> None:
    name = _secret(secrets, {"username": "u"})
    with pytest.raises(InvalidInput, match="password"):
        connect_params(_from_secret(db_secret_name=name, db_host="h"))


def test_the_engine_url_from_an_rds_managed_secret(secrets: object) -> None:
    name = _secret(secrets, {"username": "owner", "password": "p"})
    url = database_url(_from_secret(db_secret_name=name, db_host="h.example", db_name="viral", db_sslmode="require"))
    assert (url.username, url.host, url.port, url.database) == ("owner", "h.example", 5432, "viral")
    assert url.query["sslmode"] == "require"


# --- TLS: verify-full against the operator's CA bundle -----------------------------------------------------------


def _certificate_authority(tmp_path: Path) -> tuple[Path, ssl.SSLContext]:
    """A throwaway CA (its PEM bundle file) and a TLS server context whose certificate it signed for 127.0.0.1."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "viral test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )  # key_cert_sign, crl_sign
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file, key_file = tmp_path / "server.pem", tmp_path / "server.key"
    cert_file.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert_file, key_file)
    return bundle, server_context


def _handshake(client_context: ssl.SSLContext, server_context: ssl.SSLContext, server_hostname: str) -> None:
    """A real TLS handshake over loopback; raises ssl.SSLError when the client refuses the server."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def serve() -> None:
            conn, _ = listener.accept()
            try:
                with server_context.wrap_socket(conn, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                pass  # the client refused us: its side raises

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        try:
            with (
                socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
                client_context.wrap_socket(raw, server_hostname=server_hostname),
            ):
                pass
        finally:
            thread.join(timeout=5)


def test_verify_full_trusts_the_operator_bundle_and_checks_the_host(tmp_path: Path) -> None:
    bundle, server_context = _certificate_authority(tmp_path)
    context = session_options(Settings(db_ssl_root_cert=str(bundle)), "verify-full")["ssl_context"]

    _handshake(context, server_context, "localhost")
    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
        _handshake(context, server_context, "db.elsewhere.example")


def test_verify_full_without_the_bundle_refuses_a_private_ca(tmp_path: Path) -> None:
    _, server_context = _certificate_authority(tmp_path)
    context = session_options(Settings(), "verify-full")["ssl_context"]
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(context, server_context, "localhost")


def test_a_relative_bundle_is_found_beside_the_package_and_a_missing_one_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle, _ = _certificate_authority(tmp_path)
    monkeypatch.setattr(connect, "PACKAGE_PARENT", tmp_path)
    context = session_options(Settings(db_ssl_root_cert=bundle.name), "verify-full")["ssl_context"]
    assert [cert["subject"] for cert in context.get_ca_certs()] == [((("commonName", "viral test CA"),),)]
    with pytest.raises(InvalidInput, match=r"certs/missing\.pem"):
        session_options(Settings(db_ssl_root_cert="certs/missing.pem"), "verify-full")


def test_empty_template_parameters_mean_unset() -> None:
    settings = Settings(db_host="", db_port="", db_name="", db_ssl_root_cert="")  # type: ignore[arg-type]
    assert (settings.db_host, settings.db_port, settings.db_name, settings.db_ssl_root_cert) == (None, None, None, None)

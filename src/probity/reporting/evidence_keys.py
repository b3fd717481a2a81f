"""Ed25519 keys for evidence bundles: make a pair, read a private key (file or environment), read a public key.

A key is given as PEM (PKCS#8 private, SubjectPublicKeyInfo public, as ``probity evidence keygen`` writes them)
or as the base64 of its 32 raw bytes. A public key is named by its fingerprint: ``SHA256:`` and the hex SHA-256
of its raw bytes, so people can compare the key a bundle was signed with against the one they trust.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from probity.core.errors import ConfigError

__all__ = [
    "KEY_ENV",
    "fingerprint",
    "load_private_key",
    "load_public_key",
    "public_key_from_text",
    "public_key_text",
    "public_path_for",
    "write_keypair",
]

KEY_ENV = "PROBITY_SIGNING_KEY"
_RAW = serialization.Encoding.Raw, serialization.PublicFormat.Raw


def fingerprint(key: Ed25519PublicKey) -> str:
    return "SHA256:" + hashlib.sha256(key.public_bytes(*_RAW)).hexdigest()


def public_key_text(key: Ed25519PublicKey) -> str:
    """The base64 of the key's 32 raw bytes, as a bundle's manifest carries it."""
    return base64.b64encode(key.public_bytes(*_RAW)).decode("ascii")


def public_path_for(private: Path) -> Path:
    """Where the public key of *private* is written: ``key.pem`` -> ``key.pub.pem``."""
    return private.with_name(f"{private.stem}.pub{private.suffix}") if private.suffix else Path(f"{private}.pub")


def write_keypair(private: Path) -> tuple[Path, Ed25519PublicKey]:
    """Make a new key pair; write the private key (mode 0600) and the public key beside it. Never overwrites."""
    public = public_path_for(private)
    for path in (private, public):
        if path.exists():
            raise ConfigError("refusing to overwrite an existing key file", path)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    _write(private, pem, 0o600)
    spki = serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    _write(public, key.public_key().public_bytes(*spki), 0o644)
    return public, key.public_key()


def _write(path: Path, data: bytes, mode: int) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
    except OSError as exc:
        raise ConfigError(f"cannot write the key: {exc.strerror}", path) from exc


def load_private_key(path: Path | None, environ: dict[str, str] | None = None) -> Ed25519PrivateKey:
    """The signing key in *path*, else in ``$PROBITY_SIGNING_KEY``; :class:`ConfigError` when neither holds one."""
    if path is not None:
        return _private(_read(path), str(path))
    text = (environ if environ is not None else dict(os.environ)).get(KEY_ENV, "").strip()
    if not text:
        raise ConfigError(
            f"no signing key: give --key FILE or set {KEY_ENV} (make a key with `probity evidence keygen -o key.pem`)"
        )
    return _private(text.encode(), f"${KEY_ENV}")


def load_public_key(path: Path) -> Ed25519PublicKey:
    """The public key in *path* (PEM or base64 raw); :class:`ConfigError` when it is none."""
    data = _read(path)
    if data.lstrip().startswith(b"-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(data)
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise ConfigError(f"not a PEM public key: {exc}", path) from exc
        if not isinstance(key, Ed25519PublicKey):
            raise ConfigError(f"not an Ed25519 public key ({type(key).__name__})", path)
        return key
    return _public_raw(data, str(path))


def public_key_from_text(text: str, where: str = "the manifest") -> Ed25519PublicKey:
    return _public_raw(text.encode("ascii", "replace"), where)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the key: {exc.strerror}", path) from exc


def _private(data: bytes, where: str) -> Ed25519PrivateKey:
    if data.lstrip().startswith(b"-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise ConfigError(f"not an unencrypted PEM private key: {exc}", where) from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigError(f"not an Ed25519 private key ({type(key).__name__})", where)
        return key
    return Ed25519PrivateKey.from_private_bytes(_raw32(data, where, "private"))


def _public_raw(data: bytes, where: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(_raw32(data, where, "public"))


def _raw32(data: bytes, where: str, kind: str) -> bytes:
    try:
        raw = base64.b64decode(data.strip(), validate=True)
    except binascii.Error as exc:
        raise ConfigError(f"not a PEM or base64 Ed25519 {kind} key", where) from exc
    if len(raw) != 32:
        raise ConfigError(f"not an Ed25519 {kind} key: {len(raw)} bytes, expected 32", where)
    return raw

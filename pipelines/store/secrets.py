"""Encryption at rest for credentials and webhook secrets: AES-256-GCM.

The key comes from ``SYNCS_ENCRYPTION_KEY`` (32 bytes, urlsafe base64) or, for the
embedded default, from a key file created once under ``SYNCS_HOME`` with 0600
permissions. Each value is bound to what it belongs to (associated data), so a ciphertext
copied to another connection's row does not decrypt. Other uses of the same key material
(the warehouse's encryption) get their own key from it through HKDF (``derived_key``), so
no two uses share a key.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from pipelines import settings
from sources.errors import ConfigError

NONCE_BYTES = 12


def _decode_key(text: str, where: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
    except ValueError:
        key = b""
    if len(key) != 32:
        raise ConfigError(
            f"{where} must be 32 bytes in urlsafe base64; create one with "
            "`python -c 'import os,base64;print(base64.urlsafe_b64encode(os.urandom(32)).decode())'`"
        )
    return key


def load_key(key_file: Path) -> bytes:
    env = settings.encryption_key()
    if env:
        return _decode_key(env, "SYNCS_ENCRYPTION_KEY")
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(base64.urlsafe_b64encode(os.urandom(32)).decode())
    return _decode_key(key_file.read_text(), f"key file {key_file.name}")


def derived_key(key: bytes, purpose: str) -> bytes:
    """A 32-byte key for one ``purpose``, derived from the key material with HKDF-SHA256."""
    return HKDF(algorithm=SHA256(), length=32, salt=None, info=f"syncs/{purpose}".encode()).derive(
        key
    )


class Cipher:
    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def encrypt(self, plaintext: bytes, bound_to: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, bound_to.encode())

    def decrypt(self, blob: bytes, bound_to: str) -> bytes:
        try:
            return self._aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], bound_to.encode())
        except InvalidTag:
            raise ConfigError(
                f"cannot decrypt the secrets of {bound_to!r}: the encryption key changed; "
                "restore SYNCS_ENCRYPTION_KEY (or the key file) or add the credentials again"
            ) from None

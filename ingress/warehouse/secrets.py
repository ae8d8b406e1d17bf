"""Credentials at rest: a JSON object encrypted as one Fernet token (AES-128-CBC + HMAC-SHA256)."""

from __future__ import annotations

from typing import Any

import orjson
from cryptography.fernet import Fernet, InvalidToken


class EncryptionKeyMissing(RuntimeError):
    """Warehouse sources exist (or are being created) but no encryption key is configured."""


class CredentialsUnreadable(RuntimeError):
    """The stored token was encrypted with another key (or is damaged)."""


KEY_SETTING = "QUIVLY_WAREHOUSE_ENCRYPTION_KEY"


def generate_key() -> str:
    return Fernet.generate_key().decode("ascii")


class SecretBox:
    def __init__(self, key: str) -> None:
        if not key:
            raise EncryptionKeyMissing(
                f"{KEY_SETTING} is not set: warehouse source credentials cannot be encrypted or read. "
                "Generate one with `quivly admin source generate-encryption-key` and set it on every "
                "ingress replica."
            )
        try:
            self._fernet = Fernet(key.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise EncryptionKeyMissing(
                f"{KEY_SETTING} is not a valid Fernet key (32 url-safe base64-encoded bytes)"
            ) from None

    def seal(self, secrets: dict[str, Any]) -> str:
        return self._fernet.encrypt(orjson.dumps(secrets)).decode("ascii")

    def open(self, token: str) -> dict[str, Any]:
        if not token:
            return {}
        try:
            opened = orjson.loads(self._fernet.decrypt(token.encode("ascii")))
        except InvalidToken:
            raise CredentialsUnreadable(
                f"the stored credentials cannot be decrypted with the current {KEY_SETTING}"
            ) from None
        return opened if isinstance(opened, dict) else {}


def redact(text: str, secrets: dict[str, Any]) -> str:
    """``text`` with every credential value (and long enough pieces of it) replaced by ``***``."""
    for value in secrets.values():
        if isinstance(value, str) and len(value) >= 4:
            text = text.replace(value, "***")
            for line in value.splitlines():
                if len(line.strip()) >= 8:
                    text = text.replace(line.strip(), "***")
    return text

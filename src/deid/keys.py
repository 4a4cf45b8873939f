"""Secret keys kept in the report folder: random, made once per report folder, so that a
re-run or a resumed run into the same report folder repeats what the key decides (hashed
names, drawn noise), while nobody without the key can reproduce or test it."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from deid.output import write_atomic

KEY_BYTES = 32


def load_or_create_key(report_dir: Path, file_name: str) -> bytes:
    path = report_dir / file_name
    if path.exists():
        return bytes.fromhex(path.read_text().strip())
    key = secrets.token_bytes(KEY_BYTES)
    write_atomic(path, key.hex().encode() + b"\n")
    os.chmod(path, 0o600)
    return key


def keyed_digest(key: bytes, text: str) -> bytes:
    """HMAC-SHA256 of ``text``; names that are not UTF-8 hash by their bytes on disk."""
    return hmac.new(key, text.encode("utf-8", "surrogateescape"), hashlib.sha256).digest()

"""Output file names: kept, or pseudonymized so that a name cannot identify a person.

``hash`` replaces every folder and file name with a keyed hash (HMAC-SHA256): without the
key, nobody can test a dictionary of likely names ("jane_doe.jpg") against the outputs.
The key is random, made once per report folder and kept there, so a re-run into the same
report folder gives the same names. ``sequential`` numbers the files in one flat folder.
The original <-> new mapping is only in the report (images.jsonl), never in OUT.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from deid.keys import keyed_digest

RENAME_MODES = ("keep", "hash", "sequential")
KEY_FILE = "rename.key"
# 16 hex digits = 64 bits: no collision expected below billions of files.
HASH_DIGITS = 16


class OutputNamer:
    def __init__(self, mode: str, key: bytes = b"") -> None:
        self.mode = mode
        self._key = key

    def stem(self, relative: str, index: int) -> PurePosixPath:
        """Output path without its suffix for the ``index``-th image (from 0) at ``relative``."""
        path = PurePosixPath(relative)
        if self.mode == "keep":
            return path.with_suffix("")
        if self.mode == "sequential":
            return PurePosixPath(f"{index + 1:06d}")
        # Each folder is named from its whole path, so equal names in different folders
        # get different pseudonyms; the file from its whole relative path.
        parts = [self._hash(PurePosixPath(*path.parts[: i + 1]).as_posix()) for i in range(len(path.parts))]
        return PurePosixPath(*parts)

    def _hash(self, text: str) -> str:
        return keyed_digest(self._key, text).hex()[:HASH_DIGITS]

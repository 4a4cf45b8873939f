"""Writing files so that a reader never sees a partial one under its final name."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

# Outputs are new files owned by the user running deid; the input's mode is not copied.
OUTPUT_FILE_MODE = 0o644
# Temporary files are hidden and named so that a later run can find and remove any left
# behind by a killed one.
TEMP_PREFIX = ".deid-"


def write_atomic(path: Path, data: bytes | Iterable[bytes]) -> None:
    """Write to a temporary file beside ``path``, flush it to disk, then rename it into
    place: the final name holds either nothing or the complete file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=TEMP_PREFIX, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as tmp:
            if isinstance(data, bytes):
                tmp.write(data)
            else:
                tmp.writelines(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.chmod(tmp_name, OUTPUT_FILE_MODE)
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise

"""Writing files so that a reader never sees a partial one under its final name."""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
from collections.abc import Iterable
from pathlib import Path

# Outputs are new files owned by the user running deid; the input's mode is not copied.
OUTPUT_FILE_MODE = 0o644
# Temporary files are hidden and named .deid-RUN-WORKER-..., RUN being the run's id
# (deid.runlock) and WORKER the host and process writing it: a resumed run finds and
# removes what its killed predecessor left, and no run touches another's files.
TEMP_PREFIX = ".deid-"
_temp_tag = ""


def set_temp_identity(run: str) -> None:
    """Name this process's temporary files after the run and this worker."""
    global _temp_tag
    _temp_tag = f"{run}-{socket.gethostname()}-{os.getpid()}-"


def run_temp_prefix(run: str) -> str:
    return f"{TEMP_PREFIX}{run}-"


def write_atomic(path: Path, data: bytes | Iterable[bytes]) -> None:
    """Write to a temporary file beside ``path``, flush it to disk, then rename it into
    place: the final name holds either nothing or the complete file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=TEMP_PREFIX + _temp_tag, suffix=".part")
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

"""Protected-face rate of the real pipeline on a folder with ground-truth face boxes.

    python scripts/eval_faces.py ../shared/data/faces/caltech ../shared/data/faces/faces.json
    python scripts/eval_faces.py ../shared/data/faces/crowds ../shared/data/faces/faces.json \\
        --config fast --json crowds.json

The same as ``deid eval``: prints the protected rate overall and by face height as a
Markdown table; a face counts as protected when the union of anonymized regions covers at
least 80% of its box.
"""

from __future__ import annotations

import sys

from deid.cli import main

if __name__ == "__main__":
    sys.exit(main(["eval", *sys.argv[1:]]))

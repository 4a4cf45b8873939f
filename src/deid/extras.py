"""How to install an optional extra (text, audit, ray, heads), said the way that works
where this deid was installed from: a package index, or a source checkout."""

from __future__ import annotations

import json
import os
import shlex
import sys
import tomllib
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote, urlparse

DISTRIBUTION = "deid"


def install_hint(extra: str) -> str:
    """The end of an error message that needs ``extra``: what to install, and how."""
    return f"install the {extra} extra: {install_command(extra)}"


def install_command(extra: str) -> str:
    """``pip install 'deid[text]'`` for a package install. In a source checkout (the
    editable install `make demo` makes) that would fetch another copy from the package
    index, so there it is ``pip install -e '.[text]'`` run in the checkout, with the pip
    of the environment deid runs in when that environment is inside the checkout."""
    checkout = source_checkout()
    if checkout is None:
        return f"pip install '{DISTRIBUTION}[{extra}]'"
    return f"cd {shlex.quote(str(checkout))} && {_pip(checkout)} install -e '.[{extra}]'"


def source_checkout() -> Path | None:
    """The project folder deid is imported from (its ``src/`` beside a pyproject.toml that
    names deid), or the folder it was installed from in editable mode; None otherwise."""
    package = Path(__file__).resolve().parent
    if package.parent.name == "src" and _names_deid(package.parent.parent / "pyproject.toml"):
        return package.parent.parent
    return _editable_folder()


def _names_deid(pyproject: Path) -> bool:
    try:
        return tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["name"] == DISTRIBUTION
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError):
        return False


def _editable_folder() -> Path | None:
    """The folder of an editable install, from the direct_url.json pip records (PEP 610)."""
    try:
        direct_url = json.loads(metadata.distribution(DISTRIBUTION).read_text("direct_url.json") or "{}")
    except (metadata.PackageNotFoundError, json.JSONDecodeError):
        return None
    url = urlparse(direct_url.get("url", ""))
    if not direct_url.get("dir_info", {}).get("editable") or url.scheme != "file":
        return None
    return Path(unquote(url.path))


def _pip(checkout: Path) -> str:
    environment = Path(os.path.abspath(sys.prefix))
    if sys.prefix == sys.base_prefix or not environment.is_relative_to(checkout):
        return "pip"
    bin_dir = Path(os.path.abspath(sys.executable)).parent
    if not bin_dir.is_relative_to(checkout):
        return "pip"
    return shlex.quote(str(bin_dir.relative_to(checkout) / "pip"))

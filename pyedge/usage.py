"""What the command-line tools share: a usage error (one line, exit code 2) and argument checks."""

from __future__ import annotations

from pathlib import Path


class UsageError(Exception):
    """A problem with what the user asked for: reported as one line, exit code 2."""


def model_path(text: str) -> Path:
    path = Path(text)
    if not path.is_file():
        raise UsageError(f"no model file at {text!r}")
    return path

"""A digest of the project's own source files, so that results made by other code are not
reused: it enters the checkpoint key and every stage's hash."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Packages whose code runs inside ``process()`` (and the plots of the process stage).
PROCESSING_CODE = ("common", "analysis", "processors", "corrections", "inference",
                   "workflows/report.py")


@functools.cache
def code_digest(*parts: str) -> str:
    """SHA-256 over the ``.py`` files of ``parts`` (packages or files, relative to the
    project root): their paths and contents."""
    digest = hashlib.sha256()
    for part in parts:
        path = ROOT / part
        for source in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(str(source.relative_to(ROOT)).encode())
            digest.update(source.read_bytes())
    return digest.hexdigest()

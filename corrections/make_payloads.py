"""Regenerate every synthetic payload: ``python -m corrections.make_payloads [out_dir]``.

Output is deterministic (fixed key order, rounded numbers, gzip without a timestamp), so a
test can check the shipped files are up to date.
"""

from __future__ import annotations

import gzip
import json
import sys
from collections.abc import Callable
from pathlib import Path

from correctionlib import schemav2 as cs

from corrections import settings
from corrections.make_btag import make_btag
from corrections.make_jerc import make_jerc
from corrections.make_pileup import make_pileup
from corrections.make_trigger import make_trigger

MAKERS: dict[str, Callable[[], cs.CorrectionSet]] = {
    settings.SYNTHETIC_JERC: make_jerc,
    settings.SYNTHETIC_BTAG: make_btag,
    settings.SYNTHETIC_PILEUP: make_pileup,
    settings.SYNTHETIC_TRIGGER: make_trigger,
}


def payload_bytes(cset: cs.CorrectionSet) -> bytes:
    """Gzipped JSON of a correction set, byte-for-byte reproducible."""
    text = json.dumps(cset.model_dump(mode="json", exclude_unset=True), separators=(",", ":"))
    return gzip.compress(text.encode(), compresslevel=9, mtime=0)


def write_payloads(out_dir: Path | None = None) -> list[Path]:
    """Write all synthetic payloads under ``out_dir`` (default: this package) and return paths."""
    base = Path(out_dir) if out_dir is not None else settings.PACKAGE_DIR
    written = []
    for rel, maker in MAKERS.items():
        path = base / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(payload_bytes(maker()))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    args = sys.argv[1:] if argv is None else argv
    for path in write_payloads(Path(args[0]) if args else None):
        print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()

"""The two commands of fourtops, each setting itself up on first use.

    python3 tasks.py run  [run_analysis.py options]   # the full pipeline on the default data
    python3 tasks.py test [pytest options]            # the test suite

Set-up: a virtual environment in ``.venv`` with the package installed (editable) and its
test extras. It is (re)installed only when ``pyproject.toml`` changed, so a second call
starts at once. Needs only Python ≥ 3.11 and access to the package index.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".fourtops-installed"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")


def _fingerprint() -> str:
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()


def ensure_environment() -> None:
    """Create the virtualenv and install the project unless it is already up to date."""
    if sys.version_info < (3, 11):  # noqa: UP036 - tasks.py may run under any python3
        sys.exit(f"fourtops needs Python >= 3.11, this is {sys.version.split()[0]}")
    if STAMP.is_file() and STAMP.read_text() == _fingerprint() and PYTHON.exists():
        return
    if not PYTHON.exists():
        print("setting up .venv (first run only) ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    subprocess.run([str(PYTHON), "-m", "pip", "install", "-q", "-e", f"{ROOT}[test]"],
                   check=True)
    STAMP.write_text(_fingerprint())


def main() -> int:
    """Dispatch ``run`` or ``test``."""
    if len(sys.argv) < 2 or sys.argv[1] not in ("run", "test"):
        print(__doc__)
        return 2
    command, rest = sys.argv[1], sys.argv[2:]
    ensure_environment()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if command == "run":
        cmd = [str(PYTHON), str(ROOT / "run_analysis.py"), *rest]
    else:
        cmd = [str(PYTHON), "-m", "pytest", *rest]
    return subprocess.run(cmd, cwd=ROOT, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())

"""Imports go one way: no package imports a higher layer (see ARCHITECTURE.md).

Every ``import`` and ``from ... import`` of the project's code, at module level or inside
functions, is read with ``ast``; an import of a package outside the importer's allowed set
fails the test with the file and line.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: layer -> the layers its modules may import (itself included). Lowest first.
ALLOWED: dict[str, set[str]] = {
    "common": {"common"},
    "simulation": {"common", "simulation"},
    "corrections": {"common", "corrections"},
    "inference": {"common", "inference"},
    "analysis": {"common", "simulation", "corrections", "inference", "analysis"},
    "training": {"common", "simulation", "corrections", "inference", "analysis", "training"},
    "processors": {"common", "corrections", "inference", "analysis", "processors"},
    "workflows": {"common", "simulation", "corrections", "inference", "analysis", "training",
                  "processors", "workflows"},
    "run_analysis": set(),  # the CLI may import anything
}
PACKAGES = ("common", "simulation", "corrections", "inference", "analysis", "processors",
            "workflows", "run_analysis")


def layer_of(module: str) -> str | None:
    """The layer of a dotted module name; None for third-party modules."""
    if module == "inference.training" or module.startswith("inference.training."):
        return "training"
    top = module.split(".")[0]
    return top if top in PACKAGES else None


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, root: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in ``path``."""
    module = _module_name(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importing package
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            out.append((node.lineno, name))
    return out


def upward_imports(root: Path = ROOT) -> list[str]:
    """``file:line: importer-layer imports module (layer)`` for each forbidden import."""
    bad = []
    files = [root / "run_analysis.py"] + [
        p for pkg in PACKAGES[:-1] for p in sorted((root / pkg).rglob("*.py"))
    ]
    for path in files:
        src = layer_of(_module_name(path, root))
        if src is None or src == "run_analysis":
            continue
        for line, name in _imports(path, root):
            dst = layer_of(name)
            if dst is not None and dst not in ALLOWED[src]:
                bad.append(f"{path.relative_to(root)}:{line}: {src} imports {name} ({dst})")
    return bad


def test_no_package_imports_a_higher_layer() -> None:
    bad = upward_imports()
    assert not bad, "imports against the layer order (ARCHITECTURE.md):\n" + "\n".join(bad)


def test_the_check_sees_lazy_and_relative_imports(tmp_path: Path) -> None:
    """The check itself: an upward import inside a function and a relative one are found."""
    (tmp_path / "run_analysis.py").write_text("")
    for pkg in PACKAGES[:-1]:
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / "inference" / "training").mkdir()
    (tmp_path / "inference" / "training" / "__init__.py").write_text("")
    (tmp_path / "inference" / "client.py").write_text(
        "def f():\n    from workflows.train import main\n")
    (tmp_path / "inference" / "engine.py").write_text("from .training import samples\n")
    (tmp_path / "analysis" / "ok.py").write_text("import numpy\nfrom common import x\n")
    bad = upward_imports(tmp_path)
    assert bad == [
        "inference/client.py:2: inference imports workflows.train (workflows)",
        "inference/engine.py:1: inference imports inference.training (training)",
    ]

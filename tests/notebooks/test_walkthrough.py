"""The notebook runs top to bottom (nbclient) on its tiny sample, and its jupytext twin
is the same notebook."""

from __future__ import annotations

import os
from pathlib import Path

import jupytext
import nbclient
import nbformat

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def test_ipynb_and_py_twin_have_the_same_code():
    ipynb = nbformat.read(NOTEBOOKS / "walkthrough.ipynb", as_version=4)
    twin = jupytext.read(NOTEBOOKS / "walkthrough.py")
    def code(nb):
        return [c.source for c in nb.cells if c.cell_type == "code"]
    assert code(ipynb) == code(twin)


def test_notebook_runs_top_to_bottom(tmp_path, monkeypatch):
    monkeypatch.setenv("FOURTOPS_NOTEBOOK_DIR", str(tmp_path))
    nb = nbformat.read(NOTEBOOKS / "walkthrough.ipynb", as_version=4)
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute(env=dict(os.environ))
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "mu = " in text and " events in " in text
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 2  # the histogram and the post-fit plot render inline
    assert (tmp_path / "output" / "abcdnn" / "templates" / "signal_nj9p_nb3p.json").is_file()

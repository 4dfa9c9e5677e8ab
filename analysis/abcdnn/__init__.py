"""ABCDnn: normalizing-flow extended-ABCD morphing of tt̄ simulation into the background.

Method: Choi, Lim & Oh, arXiv:2008.03636; extended ABCD: Choi & Oh, arXiv:1906.10831.
Modules: ``settings`` (ABCDnnSettings, GridSpec), ``regions`` (3x2 grid, letters,
condition encodings), ``inputs`` (feature table → standardized inputs and signed target
weights), ``mmd`` (Gaussian-mixture MMD), ``flow`` (conditional monotone flow),
``training``, ``ensemble``, ``normalization`` (extended ABCD), ``templates`` (fit
templates, non-closure, closure χ²), ``export`` (ONNX), ``plots``, ``truth`` (acceptance
check against the generator's true background), ``toy`` (toy tables for tests).
The pipeline step is :func:`workflows.morph.run_morph`.
"""

from analysis.abcdnn.settings import ABCDnnSettings, GridSpec

__all__ = ["ABCDnnSettings", "GridSpec"]

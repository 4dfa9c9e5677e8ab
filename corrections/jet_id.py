"""Jet identification recomputed from a jet's energy fractions and multiplicities.

NanoAOD v15 no longer stores ``Jet_jetId``; CMS JME publishes the criteria instead
(JetID13p6TeV TWiki). The criteria live in a small YAML file beside this module
(``jet_id_run3_puppi.yaml``: |η| bins, each a set of cuts), so another era's ID is a new
file, not new code. :func:`load_jet_id_criteria` reads and checks such a file;
:meth:`JetIdCriteria.passes` evaluates it on flat numpy arrays.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import awkward as ak
import numpy as np
import yaml

from common.exceptions import CorrectionError
from corrections.settings import PACKAGE_DIR

DEFAULT_JET_ID = "jet_id_run3_puppi.yaml"
#: the energy fractions the JME criteria cut on (NanoAOD Jet fields)
FRACTIONS = ("neHEF", "neEmEF", "chHEF", "chEmEF", "muEF")
_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


@dataclass(frozen=True)
class EtaBin:
    """Cuts applied to jets with ``low < |η| <= high``: variable -> (operator, value)."""

    low: float
    high: float
    cuts: tuple[tuple[str, str, float], ...]


@dataclass(frozen=True)
class JetIdCriteria:
    """A jet-ID working point as |η| bins of cuts (a jet outside every bin fails)."""

    name: str
    bins: tuple[EtaBin, ...]

    @property
    def variables(self) -> set[str]:
        """Every jet variable the cuts read."""
        return {var for b in self.bins for var, _, _ in b.cuts}

    def passes(self, abs_eta: np.ndarray, values: Mapping[str, np.ndarray]) -> np.ndarray:
        """Boolean per jet; ``values`` holds a flat array for each of :attr:`variables`."""
        missing = self.variables - set(values)
        if missing:
            raise CorrectionError(f"jet ID {self.name!r} needs jet variables {sorted(missing)}")
        out = np.zeros(len(abs_eta), dtype=bool)
        for b in self.bins:
            ok = (abs_eta > b.low) & (abs_eta <= b.high)
            for var, op, value in b.cuts:
                ok &= _OPS[op](np.asarray(values[var]), value)
            out |= ok
        return out


def load_jet_id_criteria(path: str | Path = DEFAULT_JET_ID) -> JetIdCriteria:
    """Read jet-ID criteria (relative paths: from this package's folder)."""
    p = Path(path).expanduser()
    p = p if p.is_absolute() else PACKAGE_DIR / p
    if not p.is_file():
        raise CorrectionError(f"jet-ID criteria file {str(p)!r} does not exist")
    raw = yaml.safe_load(p.read_text())
    try:
        bins = []
        for b in raw["bins"]:
            low, high = (float(x) for x in b["abs_eta"])
            cuts = []
            for var, (op, value) in b["cuts"].items():
                if op not in _OPS:
                    raise ValueError(f"operator {op!r} of {var!r} is not one of {list(_OPS)}")
                cuts.append((str(var), op, float(value)))
            bins.append(EtaBin(low, high, tuple(cuts)))
        return JetIdCriteria(str(raw["name"]), tuple(bins))
    except (KeyError, TypeError, ValueError) as err:
        raise CorrectionError(f"jet-ID criteria file {str(p)!r} is malformed: {err}. Expected "
                              "name and bins of {abs_eta: [low, high], cuts: {var: [op, "
                              "value]}}") from err


def _flat(x: ak.Array) -> np.ndarray:
    return np.asarray(ak.to_numpy(ak.flatten(x, axis=None))).astype(np.float64)


def jet_id_from_fractions(jets: ak.Array, criteria: JetIdCriteria) -> ak.Array:
    """The jet ID of each jet of a jagged NanoAOD ``Jet`` collection (jagged bool).

    NanoAOD before v15 stores no multiplicities: there ``multiplicity`` is
    ``nConstituents`` and ``chMultiplicity > 0`` is taken as "has charged energy" (the
    stored Jet_jetId agrees on 1503 of the 1504 jets of the v12 reference file).
    """
    fields = set(jets.fields)
    values = {v: _flat(jets[v]) for v in FRACTIONS if v in fields}
    if {"chMultiplicity", "neMultiplicity"} <= fields:
        values["chMultiplicity"] = _flat(jets.chMultiplicity)
        values["neMultiplicity"] = _flat(jets.neMultiplicity)
        values["multiplicity"] = values["chMultiplicity"] + values["neMultiplicity"]
    else:
        charged = (values["chHEF"] + values["chEmEF"] + values["muEF"]) > 0
        values["multiplicity"] = _flat(jets.nConstituents)
        values["chMultiplicity"] = charged.astype(np.float64)
        values["neMultiplicity"] = values["multiplicity"] - values["chMultiplicity"]
    passed = criteria.passes(np.abs(_flat(jets.eta)), values)
    return ak.unflatten(passed, ak.to_numpy(ak.num(jets)))

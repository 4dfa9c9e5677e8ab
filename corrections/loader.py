"""Thin loaders over correctionlib: one `Corrections` object per `CorrectionsSettings`.

`Corrections` opens the configured payloads lazily and is picklable (the compiled
correctionlib evaluators are rebuilt on the worker after unpickling), so a coffea processor
can hold it. Every failure is a `CorrectionError` that names the payload, the correction
and, for out-of-range inputs, the input.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

import correctionlib
import numpy as np
from correctionlib import schemav2 as cs

from common.exceptions import CorrectionError
from corrections.settings import CorrectionsSettings

KINDS = ("jets", "btag", "pileup", "trigger")
_ARG_RE = re.compile(r"input argument (\d+)")


def validate_payload(path: str | Path) -> cs.CorrectionSet:
    """Parse a JSON(.gz) payload with correctionlib's schema v2 models; raise if invalid."""
    path = Path(path)
    if not path.is_file():
        raise CorrectionError(f"correction payload {str(path)!r} does not exist")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as f:
        raw = json.load(f)
    try:
        return cs.CorrectionSet.model_validate(raw)
    except ValueError as err:
        msg = f"payload {str(path)!r} is not valid correctionlib v2: {err}"
        raise CorrectionError(msg) from err


class Corrections:
    """The correction payloads chosen by a `CorrectionsSettings`, evaluated by input name."""

    def __init__(self, settings: CorrectionsSettings | None = None) -> None:
        self.settings = settings if settings is not None else CorrectionsSettings()
        self._sets: dict[str, Any] = {}

    # pickling: drop the compiled evaluators, reopen them lazily on the other side
    def __getstate__(self) -> dict[str, Any]:
        return {"settings": self.settings, "_sets": {}}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def payload_path(self, kind: str) -> Path:
        """Resolved path of the payload of ``kind`` (jets, btag, pileup, trigger)."""
        if kind not in KINDS:
            raise CorrectionError(f"unknown correction kind {kind!r}; choose one of {KINDS}")
        return self.settings.resolve(getattr(self.settings, kind).payload)

    def _set(self, kind: str) -> Any:
        if kind not in self._sets:
            path = self.payload_path(kind)
            if not path.is_file():
                raise CorrectionError(
                    f"{kind} payload {str(path)!r} does not exist; fix corrections.{kind}.payload "
                    "or run `python -m corrections.make_payloads` for the synthetic ones"
                )
            try:
                self._sets[kind] = correctionlib.CorrectionSet.from_file(str(path))
            except Exception as err:  # correctionlib raises plain RuntimeError on bad JSON
                raise CorrectionError(f"cannot read {kind} payload {str(path)!r}: {err}") from err
        return self._sets[kind]

    def get(self, kind: str, name: str) -> Any:
        """The correction (or compound correction) ``name`` of payload ``kind``."""
        cset = self._set(kind)
        # membership via keys(): CorrectionSet has no usable __contains__
        if name in set(cset.keys()):
            return cset[name]
        if name in set(cset.compound.keys()):
            return cset.compound[name]
        available = sorted([*cset.keys(), *cset.compound.keys()])
        raise CorrectionError(
            f"correction {name!r} is not in the {kind} payload {str(self.payload_path(kind))!r}; "
            f"available: {available[:12]}{' ...' if len(available) > 12 else ''}. "
            f"Fix the name in corrections.{kind} of the config."
        )

    def evaluate(self, kind: str, name: str, **inputs: Any) -> Any:
        """Evaluate correction ``name`` with inputs given by their payload input names.

        Arrays (numpy or awkward, same structure) and scalars may be mixed as correctionlib
        allows. Out-of-range inputs on a ``flow: error`` binning raise `CorrectionError`.
        """
        corr = self.get(kind, name)
        names = [v.name for v in corr.inputs]
        missing = [n for n in names if n not in inputs]
        if missing:
            raise CorrectionError(
                f"correction {name!r} needs inputs {names}; missing {missing}"
            )
        args = [inputs[n] for n in names]
        try:
            return corr.evaluate(*args)
        except (RuntimeError, IndexError, ValueError) as err:
            match = _ARG_RE.search(str(err))
            what = f"input {names[int(match.group(1))]!r}" if match else "an input"
            raise CorrectionError(
                f"correction {name!r} ({kind} payload) rejected {what}: {err}. Inputs outside "
                "the payload's validity must be cut before evaluation."
            ) from err

    # --- names of the configured jet corrections --------------------------------------
    def jec_name(self, is_data: bool = False) -> str:
        """Compound JEC name for MC (or data, if a data tag is configured)."""
        j = self.settings.jets
        tag = j.jec_tag_data if is_data and j.jec_tag_data else j.jec_tag
        return f"{tag}_{j.jec_level}_{j.jet_type}"

    def jes_name(self, source: str) -> str:
        """JES uncertainty correction name of ``source``."""
        j = self.settings.jets
        return f"{j.jec_tag}_{source}_{j.jet_type}"

    def jer_names(self) -> tuple[str, str]:
        """(resolution, scale factor) correction names."""
        j = self.settings.jets
        return f"{j.jer_tag}_PtResolution_{j.jet_type}", f"{j.jer_tag}_ScaleFactor_{j.jet_type}"

    def btag_threshold(self) -> float:
        """Discriminant cut of the configured b-tag working point, from the payload."""
        b = self.settings.btag
        return float(np.asarray(self.evaluate("btag", b.wp_correction,
                                              working_point=b.working_point)))

    def check(self) -> None:
        """Open every enabled payload and look up every configured name (fail early)."""
        s = self.settings
        if s.jets.reapply_jec:
            self.get("jets", self.jec_name())
        for source in s.jets.jes_sources:
            self.get("jets", self.jes_name(source))
        if s.jets.jer:
            for name in self.jer_names():
                self.get("jets", name)
        if s.btag.enabled:
            for name in (s.btag.heavy_correction, s.btag.light_correction,
                         s.btag.wp_correction, s.btag.efficiency_correction):
                self.get("btag", name)
        for kind in ("pileup", "trigger"):
            if getattr(s, kind).enabled:
                self.get(kind, getattr(s, kind).correction)


def load_corrections(settings: CorrectionsSettings | None = None) -> Corrections:
    """Build a `Corrections` for ``settings`` (default: synthetic payloads) and check it."""
    corr = Corrections(settings)
    corr.check()
    return corr

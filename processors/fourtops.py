"""The all-hadronic four-top processor.

Stateless: everything it needs (selection settings, per-dataset normalization, lumi masks,
an optional inference client) comes through the constructor; ``process()`` reads no globals.
Per chunk it returns histograms (region × process × systematic × variable), a cutflow per
dataset, the per-event feature table of preselected events, and bookkeeping of the entries
it processed per file (so the workflow can prove that nothing was lost).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import awkward as ak
import hist
import numpy as np
from coffea import processor

from analysis.config import AnalysisConfig, HistogramDef
from analysis.publish.efficiency import btag_efficiency_hist, empty_hist
from analysis.regions import assign_regions, region_labels
from analysis.selection import Preselected, has_veto_lepton, preselect, trigger_decision
from analysis.variations import jet_variation_names, jet_variations
from analysis.weights import event_weights, weight_variation_names
from corrections.jet_id import JetIdCriteria, load_jet_id_criteria
from corrections.loader import Corrections
from processors import compat
from processors.compat import FileFlavour

N_FEATURE_JETS = 8
CUTFLOW_STEPS = ("all", "lumi_mask", "trigger", "lepton_veto", "n_jets", "n_b", "ht")


@dataclass(frozen=True)
class DatasetInfo:
    """What the processor needs to know about one dataset."""

    process: str
    kind: str  # "mc" or "data"
    era: str
    norm: float = 1.0  # xsec * lumi / sum(genWeight); 1 for data
    lumi_mask: Any = None  # coffea.lumi_tools.LumiMask for data, else None


class MLColumns(Protocol):
    """Adds ML columns (taggers, event DNN) for preselected events."""

    def boosted(self, events: ak.Array) -> dict[str, np.ndarray]:
        """Columns that depend on the fat jets only (the same for every jet variation)."""
        ...

    def __call__(self, events: ak.Array, jets: ak.Array, btag_wp: float,
                 boosted: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        """All ML columns of ``events`` with selected ``jets``; ``boosted`` precomputed."""
        ...


@dataclass
class FourTopsProcessor(processor.ProcessorABC):
    """Selection, region assignment, histograms, cutflow and feature table for tt̄tt̄."""

    config: AnalysisConfig
    datasets: dict[str, DatasetInfo]
    corrections: Corrections | None = None
    ml_columns: MLColumns | None = None
    write_features: bool = True
    flavours: dict[str, FileFlavour] = field(default_factory=dict)  # path -> flavour
    _labels: list[str] = field(init=False, repr=False)
    _jet_id: JetIdCriteria = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._labels = region_labels(self.config.regions)
        self._jet_id = load_jet_id_criteria(self.config.inputs.jet_id_criteria)

    # -- histograms ---------------------------------------------------------------------
    def _empty_hist(self, hdef: HistogramDef) -> hist.Hist:
        return hist.Hist(
            hist.axis.StrCategory(self._labels, name="region"),
            hist.axis.StrCategory([], name="process", growth=True),
            hist.axis.StrCategory([], name="systematic", growth=True),
            hdef.axis(),
            storage=hist.storage.Weight(),
        )

    # -- the chunk ----------------------------------------------------------------------
    def process(self, events: ak.Array) -> dict[str, Any]:
        """Process one chunk of NanoEvents."""
        cfg = self.config
        dataset = events.metadata["dataset"]
        info = self.datasets[dataset]
        filename = events.metadata["filename"]
        n = len(events)
        # the file's NanoAOD flavour decides how columns are read (processors/compat.py)
        flavour = compat.flavour_of(events, cfg, info.era, info.kind == "mc", self.flavours)

        if info.kind == "mc":
            weight = compat.gen_weight(events, flavour) * info.norm
        else:
            weight = np.ones(n, dtype=np.float64)

        cutflow: dict[str, dict[str, float]] = {}

        def record(step: str, mask: np.ndarray) -> None:
            cutflow[step] = {"events": int(mask.sum()), "weighted": float(weight[mask].sum())}

        mask = np.ones(n, dtype=bool)
        record("all", mask)
        if info.lumi_mask is not None:
            mask &= np.asarray(info.lumi_mask(ak.to_numpy(events.run),
                                              ak.to_numpy(events.luminosityBlock)))
        record("lumi_mask", mask)
        fired, missing_paths = trigger_decision(events, cfg.trigger.paths[info.era], filename)
        mask &= fired
        record("trigger", mask)
        mask &= ~has_veto_lepton(events.Electron, events.Muon, cfg.leptons)
        record("lepton_veto", mask)

        base = events[mask]
        base_weight = weight[mask]
        hists = {name: self._empty_hist(h) for name, h in cfg.histograms.items()}
        yields = hist.Hist(
            hist.axis.StrCategory(self._labels, name="region"),
            hist.axis.StrCategory([], name="process", growth=True),
            hist.axis.StrCategory([], name="systematic", growth=True),
            storage=hist.storage.Weight(),
        )
        features: dict[str, list[dict[str, np.ndarray]]] = {}
        btag_efficiency = empty_hist()  # b-tagging efficiency tables: nominal MC jets
        cutflow_variations: dict[str, dict[str, dict[str, float]]] = {}
        wp = cfg.btag.working_points[info.era]
        is_data = info.kind == "data"
        systematics = cfg.systematics
        names = systematics.names if systematics.enabled else []
        skipped: list[str] = []
        jets_in = compat.adapt_jets(base.Jet, flavour, cfg, self._jet_id)
        if self.corrections is not None:
            if names is None:
                names = (jet_variation_names(self.corrections)
                         + weight_variation_names(self.corrections))
            # variations whose inputs the file lacks are skipped, never filled as nominal
            skipped = [] if is_data else flavour.skipped(names)
            names = [v for v in names if v not in skipped]
            jet_sets = jet_variations(jets_in, base, self.corrections, names, is_data=is_data,
                                      rho=compat.rho(base, flavour))
        else:
            jet_sets = {"nominal": jets_in}
        selected = {var: self._preselect(all_jets, wp, var != "nominal")
                    for var, all_jets in jet_sets.items()}
        # boosted tagging depends on the fat jets only: once for every event that any
        # jet variation preselects, then sliced per variation
        boosted = None
        if self.ml_columns is not None:
            union = np.logical_or.reduce([p.sel for p in selected.values()])
            boosted = (union, compat.boosted_columns(base[union], flavour, self.ml_columns,
                                                     cfg))
        for jet_var, (jets, n_jets, n_b, ht, sel, sel_j, sel_b) in selected.items():
            weights = {"nominal": base_weight}
            if self.corrections is not None:
                ws = event_weights(base, jets, self.corrections,
                                   names if jet_var == "nominal" else [], is_data=is_data,
                                   btag_threshold=wp, absent=flavour.absent)
                weights = {"nominal": base_weight * ws.nominal}
                weights.update({n: base_weight * ws.weight(n) for n in ws.variations})
            # ML columns depend on the jets only: once per jet variation, shared by the
            # weight variations; the processor's own columns (ht, n_jets, ...) win.
            ml = {}
            if boosted is not None:
                union, columns = boosted
                ml = self.ml_columns(base[sel], jets[sel], wp,
                                     {k: v[sel[union]] for k, v in columns.items()})
                if flavour.boosted is None:  # no boosted-top score: not filled, not faked
                    ml = {k: v for k, v in ml.items() if k not in compat.NEEDS_BOOSTED}
            for weight_var, w in weights.items():
                syst = jet_var if weight_var == "nominal" else weight_var
                steps = {s: {"events": int(m.sum()), "weighted": float(w[m].sum())}
                         for s, m in (("n_jets", sel_j), ("n_b", sel_b), ("ht", sel))}
                if syst == "nominal":
                    cutflow.update(steps)
                    if not is_data:  # before the N b and HT cuts: no b-tag bias
                        btag_efficiency = btag_efficiency_hist(
                            jets[sel_j], w[sel_j], info.process, wp, cfg.btag.discriminant)
                else:
                    cutflow_variations[syst] = steps
                columns = self._columns(jets[sel], n_jets[sel], n_b[sel], ht[sel], w[sel])
                wanted = syst == "nominal" or syst in systematics.feature_table
                columns.update({k: v for k, v in ml.items() if k not in columns})
                self._fill(hists, columns, info.process, syst)
                yields.fill(region=columns["region"].astype(str), process=info.process,
                            systematic=syst, weight=columns["weight"])
                if wanted and self.write_features:
                    columns.update(self._identity(base[sel], dataset, info))
                    key = dataset if syst == "nominal" else f"{dataset}__{syst}"
                    features.setdefault(key, []).append(columns)

        return {
            "hists": hists,
            "yields": yields,
            "btag_efficiency": btag_efficiency,
            "cutflow": {dataset: cutflow},
            "cutflow_variations": {dataset: cutflow_variations},
            "features": features or {dataset: []},
            "entries": {dataset: {filename: n}},
            "missing_trigger_paths": {filename: set(missing_paths)},
            "skipped_variations": {dataset: {filename: set(skipped)}},
        }

    def _preselect(self, all_jets: ak.Array, wp: float, reorder: bool) -> Preselected:
        """Selected jets, N jets, N b, HT and the preselection masks (all, jets, jets+b)."""
        return preselect(all_jets, self.config, wp, reorder)

    def _columns(self, jets: ak.Array, n_jets: np.ndarray, n_b: np.ndarray,
                 ht: np.ndarray, weight: np.ndarray) -> dict[str, np.ndarray]:
        cfg = self.config
        cols: dict[str, np.ndarray] = {
            "weight": weight,
            "n_jets": n_jets.astype(np.int64),
            "n_b": n_b.astype(np.int64),
            "ht": ht,
            "region": assign_regions(n_jets, n_b, cfg.regions),
        }
        padded = ak.pad_none(jets, N_FEATURE_JETS, clip=True)
        for var, branch in (("pt", "pt"), ("eta", "eta"), ("phi", "phi"), ("mass", "mass"),
                            ("btag", cfg.btag.discriminant)):
            values = ak.to_numpy(ak.fill_none(padded[branch], 0.0)).astype(np.float64)
            for i in range(N_FEATURE_JETS):
                cols[f"jet{i + 1}_{var}"] = values[:, i] if len(values) else values.reshape(0)
        cols["lead_jet_pt"] = cols["jet1_pt"]
        return cols

    @staticmethod
    def _identity(events: ak.Array, dataset: str, info: DatasetInfo) -> dict[str, np.ndarray]:
        n = len(events)
        return {
            "dataset": np.full(n, dataset, dtype=object),
            "process": np.full(n, info.process, dtype=object),
            "kind": np.full(n, info.kind, dtype=object),
            "run": ak.to_numpy(events.run).astype(np.int64),
            "luminosityBlock": ak.to_numpy(events.luminosityBlock).astype(np.int64),
            "event": ak.to_numpy(events.event).astype(np.int64),
        }

    def _fill(self, hists: dict[str, hist.Hist], columns: dict[str, np.ndarray], process: str,
              systematic: str) -> None:
        for name, hdef in self.config.histograms.items():
            if hdef.variable not in columns:
                continue
            hists[name].fill(
                region=columns["region"].astype(str),
                process=process,
                systematic=systematic,
                **{hdef.variable: columns[hdef.variable]},
                weight=columns["weight"],
            )

    def postprocess(self, accumulator: dict[str, Any]) -> dict[str, Any]:
        """Nothing to do: outputs are written by the workflow."""
        return accumulator

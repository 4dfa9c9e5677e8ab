"""The all-hadronic four-top processor.

Stateless: everything it needs (selection settings, per-dataset normalization, lumi masks,
an optional inference client) comes through the constructor; ``process()`` reads no globals.
Per chunk it returns histograms (region × process × systematic × variable), a cutflow per
dataset, the per-event feature table of preselected events, and bookkeeping of the entries
it processed per file (so the workflow can prove that nothing was lost).

Systematic variations cost little: per jet variation the selection runs on flat arrays and
the jet columns, regions and bin indices are made once; every weight variation is then
summed onto the same bins (:mod:`processors.fills`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import awkward as ak
import numpy as np
from coffea import processor

from analysis.config import AnalysisConfig
from analysis.flat import FlatCollection
from analysis.jets import pt_ordered
from analysis.ml_features import BOOSTED_CANDIDATES, RESOLVED_CANDIDATES, MLFeatureSettings
from analysis.publish.efficiency import btag_efficiency_hist, empty_hist
from analysis.publish.top_tag_efficiency import empty_hists, top_tag_hists
from analysis.regions import assign_regions, region_index, region_labels
from analysis.selection import has_veto_lepton, preselect_flat, select_jets, trigger_decision
from analysis.variations import jet_variation_names, varied_pt_mass, with_pt_mass
from analysis.weights import event_weights, weight_variation_names
from corrections.jet_id import JetIdCriteria, load_jet_id_criteria
from corrections.loader import Corrections
from processors import compat
from processors.compat import FileFlavour
from processors.fills import VariationFills

N_FEATURE_JETS = 8
CUTFLOW_STEPS = ("all", "lumi_mask", "trigger", "lepton_veto", "n_jets", "n_b", "ht")
#: the columns the processor makes from the jets (ML columns of the same name are ignored)
JET_COLUMNS = frozenset(
    ["n_jets", "n_b", "ht", "region", "lead_jet_pt"]
    + [f"jet{i + 1}_{v}" for i in range(N_FEATURE_JETS)
       for v in ("pt", "eta", "phi", "mass", "btag")])


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

    def boosted(self, events: ak.Array) -> dict[str, Any]:
        """Columns that depend on the fat jets only (the same for every jet variation),
        optionally with the scored fat jets per event (``boosted_candidates``)."""
        ...

    def variations(self, jet_sets: dict[str, tuple[ak.Array, ak.Array, dict[str, Any]]],
                   btag_wp: float) -> dict[str, dict[str, Any]]:
        """All ML columns per jet variation, from (events, selected jets, boosted columns);
        the nominal set's optionally with the scored trijets (``resolved_candidates``)."""
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
        fills = VariationFills(self._labels, cfg.histograms, info.process)
        features: dict[str, list[dict[str, np.ndarray]]] = {}
        btag_efficiency = empty_hist()  # b-tagging efficiency tables: nominal MC jets
        top_tag_efficiency = empty_hists()  # top-tagger tables: nominal MC candidates
        cutflow_variations: dict[str, dict[str, dict[str, float]]] = {}
        wp = cfg.btag.working_points[info.era]
        is_data = info.kind == "data"
        systematics = cfg.systematics
        names = systematics.names if systematics.enabled else []
        skipped: list[str] = []
        jets_in = compat.adapt_jets(base.Jet, flavour, cfg, self._jet_id)
        flat_in = FlatCollection.from_awkward(jets_in, self._jet_fields(jets_in, is_data))
        if self.corrections is not None:
            if names is None:
                names = (jet_variation_names(self.corrections)
                         + weight_variation_names(self.corrections))
            # variations whose inputs the file lacks are skipped, never filled as nominal
            skipped = [] if is_data else flavour.skipped(names)
            names = [v for v in names if v not in skipped]
            _, varied = varied_pt_mass(jets_in, base, self.corrections, names, is_data=is_data,
                                       rho=compat.rho(base, flavour))
        else:
            varied = {"nominal": (flat_in["pt"], flat_in["mass"])}
        # a jet variation changes pt and mass only: the selection is redone on flat arrays
        selected = {var: preselect_flat(flat_in.replace(pt=pt, mass=mass), cfg, wp,
                                        reorder=var != "nominal")
                    for var, (pt, mass) in varied.items()}
        # boosted tagging depends on the fat jets only: once for every event that any
        # jet variation preselects, then sliced per variation
        ml_by_var: dict[str, dict[str, np.ndarray]] = {}
        boosted_candidates = None  # the scored fat jets of the nominal preselected events
        if self.ml_columns is not None:
            union = np.logical_or.reduce([p.sel for p in selected.values()])
            boosted = compat.boosted_columns(base[union], flavour, self.ml_columns, cfg)
            # all jet variations in one call: each model runs once per chunk
            ml_by_var = self.ml_columns.variations(
                {var: (base[p.sel], self._awkward_jets(jets_in, varied[var], var, p.sel),
                       {k: v[p.sel[union]] for k, v in boosted.items()})
                 for var, p in selected.items()}, wp)
            if BOOSTED_CANDIDATES in boosted:
                boosted_candidates = boosted[BOOSTED_CANDIDATES][selected["nominal"].sel[union]]
        hist_variables = {h.variable for h in cfg.histograms.values()}
        for jet_var, (jets, n_jets, n_b, ht, sel, sel_j, sel_b) in selected.items():
            # weights count only where the jets are enough (every cutflow step from n_jets on
            # and every fill is within sel_j): computed for those events only
            keep = np.flatnonzero(sel_j)
            weights = {"nominal": base_weight[keep]}
            if self.corrections is not None:
                ws = event_weights(base[keep], jets.events(sel_j), self.corrections,
                                   names if jet_var == "nominal" else [], is_data=is_data,
                                   btag_threshold=wp, absent=flavour.absent)
                weights = {"nominal": weights["nominal"] * ws.nominal}
                weights.update({n: base_weight[keep] * ws.weight(n) for n in ws.variations})
            in_keep = {s: m[keep] for s, m in (("n_jets", sel_j), ("n_b", sel_b), ("ht", sel))}
            # ML columns depend on the jets only: this jet variation's (computed above),
            # shared by the weight variations; the processor's own columns (ht, ...) win.
            ml = dict(ml_by_var.get(jet_var, {}))
            resolved_candidates = ml.pop(RESOLVED_CANDIDATES, None)  # not a column
            if flavour.boosted is None:  # no boosted-top score: not filled, not faked
                ml = {k: v for k, v in ml.items() if k not in compat.NEEDS_BOOSTED}
            # everything but the weight is the same for all weight variations: once here
            # the feature table's jet columns only where a table is written: else only
            # what the histograms read
            table = self.write_features and (jet_var == "nominal"
                                             or jet_var in systematics.feature_table)
            columns = self._columns(jets.events(sel), n_jets[sel], n_b[sel], ht[sel],
                                    None if table else hist_variables)
            columns.update({k: v for k, v in ml.items() if k not in JET_COLUMNS})
            region = region_index(n_jets[sel], n_b[sel], cfg.regions)
            bins = {name: fills.bin_index(name, region, columns[h.variable])
                    for name, h in cfg.histograms.items() if h.variable in columns}
            bins[None] = fills.bin_index(None, region)  # the yields
            identity: dict[str, np.ndarray] = {}
            for weight_var, w in weights.items():
                syst = jet_var if weight_var == "nominal" else weight_var
                steps = {s: {"events": int(m.sum()), "weighted": float(w[m].sum())}
                         for s, m in in_keep.items()}
                if syst == "nominal":
                    cutflow.update(steps)
                    if not is_data:  # before the N b and HT cuts: no b-tag bias
                        btag_efficiency = btag_efficiency_hist(
                            jets.events(sel_j), w, info.process, wp, cfg.btag.discriminant)
                    # top-tagger tables: the preselected events, where the analysis counts tops
                    scored = boosted_candidates is not None or resolved_candidates is not None
                    if scored and not is_data and "GenPart" in base.fields:
                        top_tag_efficiency = top_tag_hists(
                            base[sel].GenPart, boosted_candidates, resolved_candidates,
                            w[in_keep["ht"]], info.process, self._top_thresholds())
                else:
                    cutflow_variations[syst] = steps
                w_sel = w[in_keep["ht"]]
                for name, index in bins.items():
                    fills.add(name, syst, index, w_sel)
                wanted = syst == "nominal" or syst in systematics.feature_table
                if wanted and self.write_features:
                    identity = identity or self._identity(base[sel], dataset, info)
                    key = dataset if syst == "nominal" else f"{dataset}__{syst}"
                    features.setdefault(key, []).append({"weight": w_sel, **columns, **identity})

        return {
            "hists": fills.histograms(),
            "yields": fills.yields(),
            "btag_efficiency": btag_efficiency,
            "top_tag_efficiency": top_tag_efficiency,
            "cutflow": {dataset: cutflow},
            "cutflow_variations": {dataset: cutflow_variations},
            "features": features or {dataset: []},
            "entries": {dataset: {filename: n}},
            "missing_trigger_paths": {filename: set(missing_paths)},
            "skipped_variations": {dataset: {filename: set(skipped)}},
        }

    def _top_thresholds(self) -> dict[str, float]:
        """The scores the analysis counts a boosted and a resolved top with."""
        ml = self.config.ml
        features = ml.features if ml is not None else MLFeatureSettings()
        return {"boosted": features.boosted_threshold, "resolved": features.resolved_threshold}

    def _jet_fields(self, jets: ak.Array, is_data: bool) -> list[str]:
        """The jet fields the selection, weights and feature table read."""
        fields = ["pt", "eta", "phi", "mass", "passJetIdTight", self.config.btag.discriminant]
        if not is_data and "hadronFlavour" in jets.fields:
            fields.append("hadronFlavour")  # b-tagging scale factors and efficiency tables
        return fields

    def _awkward_jets(self, jets_in: ak.Array, pt_mass: tuple[np.ndarray, np.ndarray],
                      jet_var: str, sel: np.ndarray) -> ak.Array:
        """One jet variation's selected jets of the selected events as a jagged collection
        (what the ML columns take), as the selection on flat arrays orders them."""
        jets = jets_in[sel]
        counts = ak.to_numpy(ak.num(jets))
        pt, mass = (v[np.repeat(sel, ak.to_numpy(ak.num(jets_in)))] for v in pt_mass)
        jets = select_jets(with_pt_mass(jets, counts, pt, mass), self.config.jets)
        return jets if jet_var == "nominal" else pt_ordered(jets)

    def _columns(self, jets: FlatCollection, n_jets: np.ndarray, n_b: np.ndarray,
                 ht: np.ndarray, wanted: set[str] | None = None) -> dict[str, np.ndarray]:
        """The feature-table columns that depend on the jets, not on the weight: all of
        them, or (``wanted``) at least those of :data:`JET_COLUMNS` named there."""
        cols: dict[str, np.ndarray] = {
            "n_jets": n_jets.astype(np.int64),
            "n_b": n_b.astype(np.int64),
            "ht": ht,
            "region": assign_regions(n_jets, n_b, self.config.regions),
        }
        for var, branch in (("pt", "pt"), ("eta", "eta"), ("phi", "phi"), ("mass", "mass"),
                            ("btag", self.config.btag.discriminant)):
            names = [f"jet{i + 1}_{var}" for i in range(N_FEATURE_JETS)]
            if wanted is not None and wanted.isdisjoint(
                    names + (["lead_jet_pt"] if var == "pt" else [])):
                continue
            values = jets.padded(branch, N_FEATURE_JETS).astype(np.float64)
            cols.update({name: values[:, i] for i, name in enumerate(names)})
        if "jet1_pt" in cols:
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

    def postprocess(self, accumulator: dict[str, Any]) -> dict[str, Any]:
        """Nothing to do: outputs are written by the workflow."""
        return accumulator

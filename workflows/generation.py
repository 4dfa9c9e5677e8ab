"""The generator-level skim seen from the analysis: a config check and the cutflow's first steps.

The generator (``GeneratorSettings.skim``) does not write events that cannot pass the
preselection. That is only right while the analysis cuts at least as hard, so
:func:`check_generator_skim` refuses a config whose preselection, jet selection, b-tag
working point or boosted-tagger threshold is looser than what the generator kept. The
events it dropped are counted in each MC sample's manifest; :func:`generator_cutflows`
puts them in front of the processor's cutflow, so that it starts from every generated event.
"""

from __future__ import annotations

from pathlib import Path

from analysis.config import AnalysisConfig
from common.exceptions import ConfigError

Cutflow = dict[str, dict[str, float]]


def check_generator_skim(config: AnalysisConfig) -> None:
    """Raise :class:`ConfigError` when the analysis would select events the skim dropped."""
    generated = {name: ds for name, ds in config.datasets.items() if ds.generator is not None}
    if not generated:
        return
    gen = config.generator
    problems = []
    skim = gen.skim
    if skim is not None:
        pre, jets = config.preselection, config.jets
        for field, value, limit, looser in (
            ("preselection.ht_min", pre.ht_min, skim.min_ht, pre.ht_min < skim.min_ht),
            ("preselection.n_jets_min", pre.n_jets_min, skim.min_jets,
             pre.n_jets_min < skim.min_jets),
            ("preselection.n_b_min", pre.n_b_min, skim.min_btags, pre.n_b_min < skim.min_btags),
            ("jets.pt_min", jets.pt_min, skim.jet_pt_min, jets.pt_min < skim.jet_pt_min),
            ("jets.abs_eta_max", jets.abs_eta_max, skim.jet_abs_eta_max,
             jets.abs_eta_max > skim.jet_abs_eta_max),
        ):
            if looser:
                problems.append(f"{field} = {value:g} is looser than the generator skim's "
                                f"{limit:g}")
        wp = gen.detector.btag_wp
        for era in sorted({ds.era for ds in generated.values()}):
            if config.btag.working_points[era] < wp:
                problems.append(f"btag.working_points.{era} = "
                                f"{config.btag.working_points[era]:g} is below the generator "
                                f"skim's b-tag working point {wp:g}")
    if gen.pfcands_fatjet_pt_min is not None and config.ml is not None and config.ml.enabled:
        tagged = config.ml.features.boosted_min_pt
        if tagged < gen.pfcands_fatjet_pt_min:
            problems.append(f"ml.features.boosted_min_pt = {tagged:g} is below "
                            f"generator.pfcands_fatjet_pt_min = {gen.pfcands_fatjet_pt_min:g} "
                            "(the jets between have no PF candidates)")
    if problems:
        raise ConfigError(
            "the generated samples would lack events or PF candidates this analysis selects: "
            + "; ".join(problems) + ". Loosen generator.skim (or generator."
            "pfcands_fatjet_pt_min) in the config, or set it to null, and use a new cache_dir.")


def generator_cutflows(config: AnalysisConfig) -> dict[str, Cutflow]:
    """Per generated MC dataset: events and Σ genWeight generated, passing the generator
    filter and written (the skim), from the samples' manifests."""
    from simulation.api import generator_cutflow

    out = {}
    for name, ds in config.datasets.items():
        if ds.generator is None:
            continue
        steps = generator_cutflow(Path(config.cache_dir) / name, ds.generator.process)
        if steps:
            out[name] = steps
    return out


def with_generator_steps(cutflow: dict[str, Cutflow], steps: dict[str, Cutflow],
                         norms: dict[str, float]) -> dict[str, Cutflow]:
    """``cutflow`` with each dataset's generator steps in front of the processor's, their
    Σ genWeight times the dataset's normalization ``norms[name]`` (xsec × lumi / Σ genWeight)
    like the processor's weighted events: ``generated`` is then xsec × lumi."""
    out = {}
    for name, flow in cutflow.items():
        scaled = {step: {"events": v["events"], "weighted": v["weighted"] * norms.get(name, 1.0)}
                  for step, v in steps.get(name, {}).items()}
        out[name] = {**scaled, **flow}
    return out

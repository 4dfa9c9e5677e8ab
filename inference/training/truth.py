"""The training's truth labels: those of :mod:`analysis.top_truth`, where they live because
the processor uses them too (the top-tagger efficiency tables)."""

from analysis.top_truth import (
    DECAY_FIELDS,
    LABEL_QCD,
    LABEL_TOP,
    LABEL_W,
    hadronic_top_decays,
    label_fatjets,
    label_trijets,
    match_jets_to_quarks,
)

__all__ = ["DECAY_FIELDS", "LABEL_QCD", "LABEL_TOP", "LABEL_W", "hadronic_top_decays",
           "label_fatjets", "label_trijets", "match_jets_to_quarks"]

"""The processor's ML columns: taggers and the event DNN through the inference client.

:func:`ml_columns_from_config` builds, from the analysis config in one call, the
processor's ``ml_columns`` callable and the dask worker plugins that go with it.
:class:`InferenceColumns` pickles as its settings only
(:class:`~inference.dask_plugin.WorkerInferenceClient`), so on a dask worker with
:class:`~inference.dask_plugin.InferencePlugin` registered the models are loaded once per
worker, and on an executor without the plugin once per unpickled processor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import awkward as ak
import numpy as np

from analysis.config import AnalysisConfig
from analysis.ml_features import (
    JetSet,
    MLFeatureSettings,
    boosted_columns,
    ml_feature_columns,
    ml_feature_columns_by_set,
)
from analysis.ml_settings import feature_settings
from inference.dask_plugin import InferencePlugin, WorkerInferenceClient


@dataclass
class InferenceColumns:
    """The processor's :class:`~processors.fourtops.MLColumns` for preselected events."""

    client: WorkerInferenceClient
    features: MLFeatureSettings

    def boosted(self, events: ak.Array) -> dict[str, Any]:
        """Boosted-tagger columns: fat jets only, so once per chunk for all variations;
        with the scored fat jets per event (``boosted_candidates``, for the efficiency
        tables)."""
        return boosted_columns(events, self.client, self.features, candidates=True)

    def __call__(self, events: ak.Array, jets: ak.Array, btag_wp: float,
                 boosted: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        """Tagger outputs, event-shape and DNN inputs, and the fold-safe DNN score.

        ``btag_wp``: the working point of the events' era (the processor's own).
        """
        settings = self.features.model_copy(update={"btag_wp": btag_wp})
        return ml_feature_columns(events, jets, self.client, settings, boosted)

    def variations(self, jet_sets: dict[str, JetSet], btag_wp: float,
                   ) -> dict[str, dict[str, Any]]:
        """The columns of :meth:`__call__` per jet variation, every model called once for
        all of them (:func:`~analysis.ml_features.ml_feature_columns_by_set`); the nominal
        set's also hold the scored trijets per event (``resolved_candidates``)."""
        settings = self.features.model_copy(update={"btag_wp": btag_wp})
        return ml_feature_columns_by_set(jet_sets, self.client, settings,
                                         candidates_of=("nominal",))


def ml_columns_from_config(config: AnalysisConfig,
                           ) -> tuple[InferenceColumns | None, tuple[InferencePlugin, ...]]:
    """The processor's ML callable and the dask worker plugins for the config's ``ml``.

    ``(None, ())`` when the section is absent or disabled. The plugins load every model
    once per worker at start-up (and serve them there with ``ml.serve_on_workers``).
    Raises ConfigError where ``ml.features`` contradicts the ``btag`` section
    (:func:`analysis.ml_settings.feature_settings`).
    """
    ml = config.ml
    if ml is None or not ml.enabled:
        return None, ()
    columns = InferenceColumns(WorkerInferenceClient(ml.inference), feature_settings(config))
    return columns, (InferencePlugin(ml.inference, serve=ml.serve_on_workers),)

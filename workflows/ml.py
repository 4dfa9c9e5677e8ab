"""ML columns in the processor: taggers and the event DNN through the inference client.

:class:`InferenceColumns` is the processor's ``ml_columns`` callable. It pickles as its
settings only (:class:`~inference.dask_plugin.WorkerInferenceClient`), so on a dask worker
with :class:`~inference.dask_plugin.InferencePlugin` registered the models are loaded
once per worker, and on an executor without the plugin once per unpickled processor.
"""

from __future__ import annotations

from dataclasses import dataclass

import awkward as ak
import numpy as np

from analysis.config import AnalysisConfig, MLSettings
from analysis.ml_features import MLFeatureSettings, boosted_columns, ml_feature_columns
from inference.dask_plugin import InferencePlugin, WorkerInferenceClient


@dataclass
class InferenceColumns:
    """The processor's :class:`~processors.fourtops.MLColumns` for preselected events."""

    client: WorkerInferenceClient
    features: MLFeatureSettings

    def boosted(self, events: ak.Array) -> dict[str, np.ndarray]:
        """Boosted-tagger columns: fat jets only, so once per chunk for all variations."""
        return boosted_columns(events, self.client, self.features)

    def __call__(self, events: ak.Array, jets: ak.Array, btag_wp: float,
                 boosted: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        """Tagger outputs, event-shape and DNN inputs, and the fold-safe DNN score."""
        settings = self.features.model_copy(update={"btag_wp": btag_wp})
        return ml_feature_columns(events, jets, self.client, settings, boosted)


def ml_columns_from_settings(ml: MLSettings | None = None, config: AnalysisConfig | None = None,
                             ) -> InferenceColumns:
    """The processor's ML callable from the config's ``ml`` section (defaults if None).

    The b-tag discriminant comes from the config's ``btag`` section when ``config`` is
    given; the working point is passed per dataset era by the processor.
    """
    ml = ml or MLSettings()
    features = ml.features
    if config is not None:
        features = features.model_copy(update={"btag_field": config.btag.discriminant})
    return InferenceColumns(WorkerInferenceClient(ml.inference), features)


def worker_plugins(ml: MLSettings | None) -> tuple[InferencePlugin, ...]:
    """Plugins for dask workers: load every model once per worker at start-up."""
    if ml is None or not ml.enabled:
        return ()
    return (InferencePlugin(ml.inference, serve=ml.serve_on_workers),)

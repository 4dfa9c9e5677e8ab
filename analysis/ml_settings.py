"""The ML feature settings the processor and the training use, from the analysis config.

The b-tag discriminant and working point of the DNN inputs are the analysis' own (``btag``
section, working point per era). ``ml.features.btag_field`` and ``ml.features.btag_wp``
exist so a reader of the settings sees them, but a config that sets them to something
else is rejected rather than silently overruled.
"""

from __future__ import annotations

from analysis.config import AnalysisConfig
from analysis.ml_features import MLFeatureSettings
from common.exceptions import ConfigError


def feature_settings(config: AnalysisConfig, era: str | None = None) -> MLFeatureSettings:
    """``config.ml.features`` with the analysis' b-tag discriminant (and ``era``'s WP).

    Raises ConfigError when ``ml.features`` sets ``btag_field`` to another branch than
    ``btag.discriminant``, or sets ``btag_wp`` at all (the WP is per era, from
    ``btag.working_points``).
    """
    ml = config.ml
    features = ml.features if ml is not None else MLFeatureSettings()
    chosen = features.model_fields_set
    if "btag_field" in chosen and features.btag_field != config.btag.discriminant:
        raise ConfigError(
            f"ml.features.btag_field is {features.btag_field!r} but btag.discriminant is "
            f"{config.btag.discriminant!r}: the DNN inputs use the analysis' b tag; remove "
            "ml.features.btag_field or make the two equal"
        )
    if "btag_wp" in chosen:
        raise ConfigError(
            f"ml.features.btag_wp = {features.btag_wp} is not used: the working point of the "
            "DNN inputs is the era's btag.working_points entry; remove ml.features.btag_wp"
        )
    update: dict[str, object] = {"btag_field": config.btag.discriminant}
    if era is not None:
        if era not in config.btag.working_points:
            raise ConfigError(
                f"era {era!r} has no b-tag working point; btag.working_points has "
                f"{sorted(config.btag.working_points)}"
            )
        update["btag_wp"] = config.btag.working_points[era]
    return features.model_copy(update=update)

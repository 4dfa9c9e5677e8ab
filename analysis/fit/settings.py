"""Settings of the statistical model and the fits (the ``fit`` section of the analysis config).

Cross-section uncertainties of the minor backgrounds are the scale ⊕ PDF uncertainties of
the LHC Higgs Cross Section Working Group, CERN Yellow Report 4 (arXiv:1610.07922),
rounded up; the luminosity uncertainty is that of the combined Run 2 CMS luminosity
(1.6 %, CMS-LUM-17-003/-18-002/-19-001).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class FitSettings(BaseModel):
    """What the fit stage builds (channel, samples, uncertainties) and computes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    region: str = Field("nj9p_nb3p", description="the signal-region cell that is fitted")
    histogram: str = Field(
        "dnn_score", description="the histogram (of the config's 'histograms') that is fitted; "
        "it is filled with the ABCDnn fit binning abcdnn.fit_bins")
    signal: str = Field("tttt", description="the signal process (scaled by the POI)")
    poi: str = Field("mu", description="name of the signal-strength parameter")
    data: str = Field("data", description="the data process")
    template: Literal["signal"] = Field(
        "signal", description="which ABCDnn template (output/abcdnn/templates/<key>_<region>)")
    background_name: str = Field("abcdnn", description="sample name of the ABCDnn background")
    background_normalization: Literal["abcd", "free"] = Field(
        "abcd", description="'abcd': extended-ABCD yield with its statistical uncertainty as a "
        "constrained normsys; 'free': an unconstrained normfactor")
    signal_leakage: bool = Field(
        True, description="let the ABCDnn background move with μ: signal in the "
        "extended-ABCD control cells is counted as background, dN_D/dμ events of the target "
        "cell per unit μ (the template's ``signal_leakage``). The background becomes the "
        "prediction with no signal subtracted, and a sample '<signal>_leakage' of "
        "-dN_D/dμ in the template's shape is scaled by μ, so a large signal does not hide in "
        "the background. Only the normalization is modelled: the morph's shape is trained "
        "with the signal subtracted at abcdnn.subtracted_signal_strength")
    minor_backgrounds: dict[str, float] = Field(
        default={"ttW": 0.13, "ttZ": 0.12, "ttH": 0.10},
        description="simulated minor backgrounds and their relative cross-section uncertainty")
    signal_xsec_uncertainty: float = Field(
        0.0, ge=0, description="relative σ(tttt) uncertainty as a normsys on the signal "
        "(0: none; μ measures σ/σ_SM, so the theory uncertainty is usually not in the fit)")
    luminosity_uncertainty: float = Field(0.016, ge=0, lt=1)
    prune_threshold: float = Field(
        0.005, ge=0, description="a normsys (histosys) whose largest relative effect on the "
        "yield (on any bin of the unit-area shape) is below this is dropped")
    confidence_level: float = Field(0.95, gt=0, lt=1)
    poi_bounds: tuple[float, float] = Field(
        (-300.0, 3000.0), description="allowed range of μ: wide, since at 1 fb^-1 the SR holds "
        "~2 signal events over ~3500 background and σ(μ) is 60-180 (the limit search needs "
        "room above μ̂ + 2σ)")
    ranking_shown: int = Field(20, ge=1, description="nuisance parameters in the ranking plot")
    scan_points: int = Field(21, ge=3, description="points of the likelihood scan of μ")
    limit_points: int = Field(
        10, ge=4, description="hypothesis tests of the CLs limit grid (0.5σ to 4.5σ above "
        "max(μ̂, 0)); more points only where a CLs curve has not crossed 1 - CL")
    minuit_strategy: Literal[0, 1, 2] = Field(
        0, description="MINUIT strategy of every fit; 0 (no Hessian before the minimization) "
        "gives the same μ̂ and HESSE errors on this model, several times faster than 1")
    ranking: bool = Field(True, description="compute the impacts ranking (4 fits per parameter)")
    ranking_processes: int = Field(
        1, ge=1, description="processes the ranking's fits are shared out over (1: this one)")

    @field_validator("poi_bounds")
    @classmethod
    def _bounds(cls, bounds: tuple[float, float]) -> tuple[float, float]:
        if not bounds[0] < 0 < 1 < bounds[1]:
            raise ValueError(f"poi_bounds must enclose 0 and 1, got {bounds}")
        return bounds

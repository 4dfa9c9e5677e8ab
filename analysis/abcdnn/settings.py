"""Settings of the ABCDnn background estimate (embedded by the analysis configuration).

Defaults follow the ABCDnn method of Choi, Lim & Oh (arXiv:2008.03636): two transformed
variables, a 3x2 grid in (N jets, N b) with the high-multiplicity corner held out, a
mixture-of-Gaussians MMD loss (Li, Swersky & Zemel, arXiv:1502.02761). The training
budget (epochs, batch size, ensemble size) is chosen so that an ensemble of ten maps for
both grids trains on a laptop CPU (one thread) in under two minutes for ~1e5 events.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from common.validation import strictly_increasing


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GridSpec(_Strict):
    """A 3x2 grid in (N jets, N b); the target is the corner (last N jets bin, last N b bin).

    ``n_jets`` and ``n_b`` are the lower edges of the bins; a bin holds exactly that
    multiplicity unless it is the last one and the matching ``*_open`` flag is set, in
    which case it is inclusive ("≥").
    """

    name: str
    n_jets: list[int] = Field(min_length=3, max_length=3)
    n_b: list[int] = Field(min_length=2, max_length=2)
    n_jets_open: bool = False
    n_b_open: bool = True

    @field_validator("n_jets", "n_b")
    @classmethod
    def _increasing(cls, edges: list[int]) -> list[int]:
        return strictly_increasing(edges, "multiplicity bins")


def _validation_grid() -> GridSpec:
    return GridSpec(name="validation", n_jets=[6, 7, 8], n_b=[2, 3], n_jets_open=False)


def _signal_grid() -> GridSpec:
    return GridSpec(name="signal", n_jets=[7, 8, 9], n_b=[2, 3], n_jets_open=True)


class ABCDnnSettings(_Strict):
    """Everything the ABCDnn training, templates and export need."""

    validation_grid: GridSpec = Field(default_factory=_validation_grid)
    signal_grid: GridSpec = Field(default_factory=_signal_grid)
    morph_process: str = Field("ttbar", description="simulated process that is morphed")
    subtract_processes: list[str] = Field(
        default=["tttt", "ttW", "ttZ", "ttH"],
        description="simulated processes subtracted from data (signed weights in the MMD)",
    )
    data_process: str = "data"
    signal_process: str = Field("tttt", description="the subtracted process the fit's μ scales")
    subtracted_signal_strength: float = Field(
        1.0, ge=0,
        description="μ at which the signal is subtracted from data in the control cells. A "
        "signal much larger than the expected one leaks into the background estimate: the "
        "fit models that in the normalization (fit.signal_leakage); a second pass with the "
        "fitted μ̂ here also takes it out of the morph's shape (signal-injection studies)",
    )
    abcd_extrapolation: Literal["linear", "loglinear"] = Field(
        "linear",
        description="how the extended-ABCD normalization carries the high/low N b ratio to the "
        "target N jets (analysis.abcdnn.normalization): 'linear' in N jets, or 'loglinear' "
        "(Choi & Oh). Choose by the validation cell's closure: on the pseudo-data the ratio "
        "grows about linearly (0.84, 1.13, 1.41, 1.62 at 6, 7, 8, >= 9 jets), and the "
        "log-linear formula over-predicts both target cells by 7-14 %",
    )
    abcd_extrapolation_uncertainty: bool = Field(
        True,
        description="the difference between the two extrapolations' yields as an uncertainty "
        "of the extended-ABCD normalization (in quadrature with its statistics): the step to "
        ">= 9 jets is one the validation cell cannot test",
    )
    # Training.
    epochs: int = Field(8, ge=1, description="passes over the largest control region's MC")
    min_steps: int = Field(
        150, ge=1, description="floor on optimizer steps per training (small samples)"
    )
    max_steps: int = Field(250, ge=1, description="cap on optimizer steps per training")
    batch_size: int = Field(256, ge=8, description="events per control region and sample")
    learning_rate: float = Field(1e-2, gt=0)
    lr_decay: float = Field(0.1, gt=0, le=1, description="final/initial learning rate (cosine)")
    kernel_widths: list[float] = Field(
        default=[0.05, 0.1, 0.2, 0.4, 0.8, 1.6],
        min_length=1,
        description="Gaussian kernel widths (standardized units) of the MMD mixture",
    )
    hidden: int = Field(32, ge=4, description="width of the conditioner networks")
    n_components: int = Field(4, ge=1, description="sigmoids in each monotone transform")
    encoding: Literal["factorized", "joint", "none"] = Field(
        "factorized",
        description="condition encoding; 'joint' (one-hot of the six cells) and 'none' (no "
        "conditions) cannot extrapolate to the target cell and exist for diagnostics",
    )
    ensemble_size: int = Field(
        10, ge=1,
        description="maps per grid; their spread is the training uncertainty of the template. "
        "With five members that spread (a standard deviation from four degrees of freedom) "
        "scattered so much between seeds that the validation closure against the true "
        "background passed for some seeds and failed for others",
    )
    bootstrap: bool = Field(True, description="Poisson-bootstrap the events of each member")
    seed: int = 12345
    clip: float = Field(8.0, gt=0, description="standardized inputs are clipped to ±clip")
    score_epsilon: float = Field(1e-6, gt=0, lt=0.5, description="score clip before logit")
    device: Literal["cpu", "cuda"] = "cpu"
    threads: int = Field(
        1, ge=0,
        description="torch CPU threads while training (0: torch's default). The maps are "
        "small: one thread is as fast as several and does not fight other jobs for cores",
    )
    processes: int = Field(
        1, ge=1,
        description="processes the ensemble members of both grids train in (1: this "
        "process); the members are independent, so 2 on 2 cores about halves the time",
    )
    # Templates.
    fit_bins: list[float] = Field(
        default=[0.0, 0.2, 0.35, 0.5, 0.6, 0.7, 0.8, 0.87, 0.93, 0.97, 1.0],
        min_length=2,
        description="DNN-score bin edges of the signal-region fit template",
    )
    ht_bins: list[float] = Field(
        default=[700, 800, 900, 1000, 1100, 1250, 1400, 1600, 1850, 2200, 3000],
        min_length=2,
        description="HT bin edges (GeV) of the control plots",
    )

    @field_validator("fit_bins", "ht_bins")
    @classmethod
    def _edges(cls, edges: list[float]) -> list[float]:
        return strictly_increasing(edges)

    @model_validator(mode="after")
    def _ensemble(self) -> ABCDnnSettings:
        # A spread needs several members; fewer is allowed only for quick checks.
        if self.bootstrap and self.ensemble_size < 2:
            raise ValueError("bootstrap needs ensemble_size >= 2")
        if self.subtracted_signal_strength != 1.0 and (
                self.signal_process not in self.subtract_processes):
            raise ValueError(
                f"subtracted_signal_strength is set but signal_process {self.signal_process!r} "
                f"is not among subtract_processes {self.subtract_processes}; add it there or "
                "name the right signal_process")
        if self.min_steps > self.max_steps:
            raise ValueError(f"min_steps ({self.min_steps}) exceeds max_steps ({self.max_steps})")
        return self

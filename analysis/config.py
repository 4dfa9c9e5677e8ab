"""The analysis configuration: one YAML file validated against a typed schema.

Every section is a pydantic model that forbids unknown keys, so a misspelt key or a wrong
type fails before any work starts. :func:`load_config` turns pydantic's errors into one
:class:`~common.exceptions.ConfigError` that names the field, the bad value and what is
allowed (with a "did you mean" for misspelt keys).
"""

from __future__ import annotations

import difflib
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import hist
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from analysis.abcdnn.settings import ABCDnnSettings
from analysis.cluster_settings import ClusterSettings
from analysis.fit.settings import FitSettings
from analysis.input_settings import InputSettings
from analysis.ml_features import ML_COLUMNS, MLFeatureSettings
from common.exceptions import ConfigError
from common.validation import strictly_increasing
from corrections.settings import CorrectionsSettings
from inference.settings import InferenceSettings
from simulation.settings import GeneratorSettings, SampleSpec

DEFAULT_CONFIG = "default_config.yaml"


class Strict(BaseModel):
    """Base for every config section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class TriggerSettings(Strict):
    """Trigger paths per era; an event passes if any path of its era fired (logical OR)."""

    paths: dict[str, list[str]] = Field(min_length=1)


class LeptonVeto(Strict):
    """Isolated electrons and muons to veto (the all-hadronic channel has none)."""

    pt_min: float = 15.0
    electron_abs_eta_max: float = 2.5
    muon_abs_eta_max: float = 2.4
    electron_cut_based_min: int = Field(4, description="NanoAOD Electron_cutBased: 4 = tight")
    muon_iso_max: float = Field(0.15, description="Muon_pfRelIso04_all, tight working point")


class JetSelection(Strict):
    """AK4 jets entering the N jets count and HT."""

    pt_min: float = 30.0
    abs_eta_max: float = 2.4
    jet_id_bit: int = Field(2, description="Jet_jetId bit mask for tight ID (bit 1 = 2)")


class BTagSettings(Strict):
    """b tagging: discriminant branch and medium working point per era."""

    discriminant: str = "btagDeepFlavB"
    working_points: dict[str, float] = Field(min_length=1)
    discriminant_by_era: dict[str, str] = Field(
        default_factory=dict, description="era -> Jet branch (without 'Jet_') to read as "
        "the discriminant in that era (e.g. btagPNetB, btagUParTAK4B); others: discriminant")


class Preselection(Strict):
    """Event preselection."""

    ht_min: float = 700.0
    n_jets_min: int = 6
    n_b_min: int = 2


class RegionGrid(Strict):
    """The region grid: lower edges; the last bin of each axis is inclusive ("≥")."""

    n_jets: list[int] = Field(default=[6, 7, 8, 9], min_length=1)
    n_b: list[int] = Field(default=[2, 3], min_length=1)

    @field_validator("n_jets", "n_b")
    @classmethod
    def _increasing(cls, edges: list[int]) -> list[int]:
        return strictly_increasing(edges)


#: Event variables a histogram can show: the processor's own and the ML columns.
HISTOGRAM_VARIABLES: tuple[str, ...] = ("ht", "n_jets", "n_b", "lead_jet_pt",
                                        *(c for c in ML_COLUMNS if c not in ("ht", "n_jets",
                                                                             "n_b")))


class HistogramDef(Strict):
    """A 1D histogram of an event variable, filled per region, process and systematic.

    Binning: ``bins`` regular bins from ``start`` to ``stop``, or explicit ``edges``. The
    fitted histogram (``fit.histogram``, the DNN score) gives neither: it takes the ABCDnn
    fit binning ``abcdnn.fit_bins``, so templates and histograms are binned alike by
    construction (configured in that one place). ML variables (``dnn_score``, tagger
    outputs) are filled only when the ``ml`` section is enabled.
    """

    variable: str = Field(description="one of HISTOGRAM_VARIABLES")
    bins: int | None = Field(None, gt=0)
    start: float | None = None
    stop: float | None = None
    edges: list[float] | None = Field(None, min_length=2, description="explicit bin edges")
    label: str

    @field_validator("variable")
    @classmethod
    def _known_variable(cls, name: str) -> str:
        if name not in HISTOGRAM_VARIABLES:
            guess = difflib.get_close_matches(name, HISTOGRAM_VARIABLES, n=1)
            hint = f" Did you mean {guess[0]!r}?" if guess else ""
            raise ValueError(f"unknown variable.{hint} Allowed: {list(HISTOGRAM_VARIABLES)}")
        return name

    @model_validator(mode="after")
    def _range(self) -> HistogramDef:
        regular = (self.bins, self.start, self.stop)
        if self.edges is not None:
            if any(v is not None for v in regular):
                raise ValueError("give either 'edges' or 'bins'/'start'/'stop', not both")
            if any(b <= a for a, b in zip(self.edges, self.edges[1:], strict=False)):
                raise ValueError(f"edges must increase strictly, got {self.edges}")
            return self
        if any(v is None for v in regular):
            raise ValueError("give 'bins', 'start' and 'stop' (or 'edges')")
        if self.stop <= self.start:
            raise ValueError(f"stop ({self.stop}) must be larger than start ({self.start})")
        return self

    def axis(self) -> hist.axis.AxisProtocol:
        """The histogram axis (regular or variable) named after the variable."""
        if self.edges is not None:
            return hist.axis.Variable(self.edges, name=self.variable, label=self.label)
        return hist.axis.Regular(self.bins, self.start, self.stop, name=self.variable,
                                 label=self.label)


class SystematicsSettings(Strict):
    """Which systematic variations the processor runs (MC only)."""

    enabled: bool = True
    names: list[str] | None = Field(
        None, description="variation names to run (None: every one the payloads provide)")
    feature_table: list[str] = Field(
        default_factory=list, description="variations also written to the feature table")


class MLSettings(Strict):
    """Taggers and the event DNN in the processor (the models of the inference repository)."""

    enabled: bool = True
    inference: InferenceSettings = Field(
        default_factory=InferenceSettings,
        description="how models are reached: in-process ONNX Runtime or a KServe v2 server")
    features: MLFeatureSettings = Field(
        default_factory=MLFeatureSettings,
        description="tagger thresholds and model names (b-tag field and WP come from btag)")
    serve_on_workers: bool = Field(
        False, description="each dask worker serves the models itself (gRPC on its host)")


class DatasetConfig(Strict):
    """One dataset: either a list of files or a generator specification."""

    process: str
    kind: Literal["mc", "data"]
    era: str
    xsec_pb: float | None = Field(None, gt=0, description="cross section in pb (MC only)")
    files: list[str] | None = None
    generator: SampleSpec | None = None
    lumi_mask: str | None = Field(
        None, description="certified-luminosity JSON (data only); generated data use the "
        "certified_lumi.json the generator writes beside its files unless this is given")

    @model_validator(mode="after")
    def _consistent(self) -> DatasetConfig:
        if (self.files is None) == (self.generator is None):
            raise ValueError("give exactly one of 'files' or 'generator'")
        if self.kind == "mc" and self.xsec_pb is None:
            raise ValueError("MC datasets need 'xsec_pb' (cross section in pb)")
        if self.kind == "data" and self.xsec_pb is not None:
            raise ValueError("data datasets take no 'xsec_pb'")
        if self.kind == "mc" and self.lumi_mask is not None:
            raise ValueError("'lumi_mask' applies to data only")
        return self


class AnalysisConfig(Strict):
    """The whole analysis configuration."""

    name: str = "fourtops"
    luminosity_fb: float = Field(gt=0, description="integrated luminosity in fb^-1")
    cache_dir: str = Field("cache", description="where generated samples are kept")
    trigger: TriggerSettings
    leptons: LeptonVeto = LeptonVeto()
    jets: JetSelection = JetSelection()
    btag: BTagSettings
    preselection: Preselection = Preselection()
    regions: RegionGrid = RegionGrid()
    histograms: dict[str, HistogramDef] = Field(min_length=1)
    generator: GeneratorSettings = GeneratorSettings()
    corrections: CorrectionsSettings | None = Field(
        None, description="correction payloads; None: no corrections and no variations")
    systematics: SystematicsSettings = SystematicsSettings()
    ml: MLSettings | None = Field(None, description="taggers + event DNN; None: not run")
    abcdnn: ABCDnnSettings = Field(default_factory=ABCDnnSettings)
    cluster: ClusterSettings | None = Field(
        None, description="batch jobs for --cluster condor|slurm (dask-jobqueue)")
    inputs: InputSettings = Field(default_factory=InputSettings,
                                  description="NanoAOD flavour handling (processors/compat.py)")
    fit: FitSettings = Field(default_factory=FitSettings)
    datasets: dict[str, DatasetConfig] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _fit_histogram_binning(cls, data: Any) -> Any:
        """The fitted histogram takes the ABCDnn fit binning (the one place it is set)."""
        if not isinstance(data, dict) or not isinstance(data.get("histograms"), dict):
            return data
        fit = data.get("fit") or {}
        name = fit.get("histogram", FitSettings().histogram) if isinstance(fit, dict) else None
        hdef = data["histograms"].get(name)
        if not isinstance(hdef, dict):
            return data
        given = [k for k in ("bins", "start", "stop", "edges") if k in hdef]
        if given:
            raise ValueError(
                f"histograms.{name} is the fitted histogram (fit.histogram): it takes its bin "
                f"edges from abcdnn.fit_bins; remove {given} from it")
        abcdnn = data.get("abcdnn") or {}
        edges = (abcdnn.get("fit_bins") if isinstance(abcdnn, dict) else None) or \
            ABCDnnSettings().fit_bins
        histograms = {**data["histograms"], name: {**hdef, "edges": list(edges)}}
        return {**data, "histograms": histograms}

    @model_validator(mode="after")
    def _eras_known(self) -> AnalysisConfig:
        for name, ds in self.datasets.items():
            for what, table in (("trigger.paths", self.trigger.paths),
                                ("btag.working_points", self.btag.working_points)):
                if ds.era not in table:
                    raise ValueError(
                        f"dataset {name!r} has era {ds.era!r}, which {what} does not list "
                        f"(known: {sorted(table)})"
                    )
        return self

    def resolve(self, path: str, base: Path) -> Path:
        """A path from the config, taken relative to the config file's folder."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else (base / p)


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The valid keys at a location of the schema (for 'did you mean' messages)."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int) or current is None:
            return []
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return []
        ann = field.annotation
        args = getattr(ann, "__args__", ())
        # dict[str, Model] -> Model one level down (the next loc part is the dict key)
        sub = next((a for a in (ann, *args) if isinstance(a, type) and issubclass(a, BaseModel)),
                   None)
        current = sub
    if current is None or not hasattr(current, "model_fields"):
        return []
    return list(current.model_fields)


def _format_errors(err: ValidationError, source: str) -> str:
    lines = [f"invalid analysis configuration {source}:"]
    for e in err.errors():
        loc = tuple(e["loc"])
        where = ".".join(str(p) for p in loc) or "(top level)"
        value = e.get("input")
        if e["type"] == "extra_forbidden":
            allowed = _allowed_keys(AnalysisConfig, loc)
            guess = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            hint = f" Did you mean {guess[0]!r}?" if guess else ""
            lines.append(f"  - {where}: unknown key.{hint} Allowed keys: {sorted(allowed)}")
        else:
            shown = repr(value)
            if len(shown) > 80:
                shown = shown[:77] + "..."
            lines.append(f"  - {where}: {e['msg']} (got {shown})")
    return "\n".join(lines)


def parse_config(data: dict[str, Any], source: str = "<dict>") -> AnalysisConfig:
    """Validate a configuration given as a dictionary (e.g. parsed YAML)."""
    if not isinstance(data, dict):
        raise ConfigError(f"analysis configuration {source} must be a mapping, got {type(data)}")
    try:
        return AnalysisConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_errors(err, source)) from None


def default_config_path() -> Path:
    """Path of the configuration shipped with the package."""
    return Path(str(resources.files("analysis") / DEFAULT_CONFIG))


def load_config(path: str | Path | None = None) -> AnalysisConfig:
    """Read and validate a YAML configuration (the shipped default when ``path`` is None)."""
    path = Path(path) if path is not None else default_config_path()
    if not path.is_file():
        raise ConfigError(f"configuration file {str(path)!r} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"configuration file {str(path)!r} is not valid YAML: {err}") from None
    return parse_config(data, source=repr(str(path)))

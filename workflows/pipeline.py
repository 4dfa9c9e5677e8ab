"""The end-to-end job: inputs → processor on the chosen executor → outputs and a summary."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from coffea import processor
from coffea.lumi_tools import LumiMask
from coffea.nanoevents import NanoAODSchema

from analysis.config import AnalysisConfig, load_config
from common.exceptions import ConfigError, FourTopsError, IncompleteRunError, InputFileError
from processors.fourtops import DatasetInfo, FourTopsProcessor, MLColumns
from workflows.checkpoints import RunCheckpointer, content_key
from workflows.cluster import ClusterSpec, open_executor
from workflows.fileset import (
    DEFAULT_READ_TIMEOUT_S,
    BadFile,
    Fileset,
    build_fileset,
    is_timeout,
)
from workflows.generation import (
    check_generator_skim,
    generator_cutflows,
    with_generator_steps,
)

PB_TIMES_INVFB = 1000.0  # 1 pb × 1 fb⁻¹ = 1000 events


class PipelineSchema(NanoAODSchema):
    """NanoAODSchema without a warning per chunk for every cross-reference whose collection
    the file does not hold (photons, taus, sub-jets: neither the generator nor the
    processor uses them; coffea skips such links). tests/simulation checks that no
    complaint concerns a collection the analysis reads.
    """

    warn_missing_crossrefs = False


@dataclass
class RunResult:
    """What a run produced (in memory) and how it went."""

    output: dict[str, Any]
    fileset: Fileset
    seconds: float
    events: int
    info: dict[str, DatasetInfo] = field(default_factory=dict)
    resumed_chunks: int = 0  # chunks taken from checkpoints of an interrupted run

    @property
    def events_per_second(self) -> float:
        """Processed events per wall-clock second (processing only, not generation)."""
        return self.events / self.seconds if self.seconds > 0 else float("nan")

    @property
    def bad_files(self) -> list[BadFile]:
        """Files skipped with --skip-bad-files."""
        return self.fileset.bad_files


def input_files(config: AnalysisConfig, config_dir: Path, processes: int = 1,
                progress: Callable[[str], None] | None = None) -> dict[str, list[str]]:
    """The files of every dataset, generating (or reusing cached) synthetic samples
    (pseudo-data of a large luminosity in slices, ``processes`` at a time; ``progress``
    gets a line per sample generated and per slice)."""
    from simulation import generate_dataset

    files: dict[str, list[str]] = {}
    cache = Path(config.cache_dir)
    for name, ds in config.datasets.items():
        if ds.files is not None:
            files[name] = [
                f if "://" in f else str(config.resolve(f, config_dir)) for f in ds.files
            ]
        else:
            paths = generate_dataset(ds.generator, cache / name,
                                     luminosity_fb=config.luminosity_fb,
                                     settings=config.generator, processes=processes,
                                     progress=progress)
            files[name] = [str(p) for p in paths]
    return files


def dataset_infos(config: AnalysisConfig, fileset: Fileset, config_dir: Path,
                  ) -> dict[str, DatasetInfo]:
    """Normalization (xsec × lumi / Σ genWeight) and lumi masks per dataset."""
    infos = {}
    for name, ds in config.datasets.items():
        norm, mask = 1.0, None
        if ds.kind == "mc":
            sumw = fileset.datasets[name].sumw
            norm = ds.xsec_pb * config.luminosity_fb * PB_TIMES_INVFB / sumw if sumw else 0.0
        elif ds.lumi_mask is not None or ds.generator is not None:
            path = (config.resolve(ds.lumi_mask, config_dir) if ds.lumi_mask is not None
                    else Path(config.cache_dir) / name / "certified_lumi.json")
            if not path.is_file():
                raise ConfigError(f"datasets.{name}.lumi_mask: file {str(path)!r} not found")
            mask = LumiMask(str(path))
        infos[name] = DatasetInfo(ds.process, ds.kind, ds.era, norm, mask)
    return infos


def _stopped(err: Exception, timeout_s: float | None = None,
             remote_files: tuple[str, ...] = ()) -> IncompleteRunError:
    """The error a person reads when processing stops: our own cause (a dead inference
    server, a bad correction input, ...) in its words, with the file and entries coffea
    names; otherwise coffea's message."""
    timeout_note = f" after {timeout_s:g} s" if timeout_s else ""
    chain: list[BaseException] = []
    link: BaseException | None = err
    while link is not None and len(chain) < 20:
        chain.append(link)
        link = link.__cause__ or link.__context__
    where = next(filter(None, (re.search(
        r"filename='([^']*)'.*?entrystart=(\d+), entrystop=(\d+)", str(e)) for e in chain)),
        None)
    at = f" (in {where[1]}, entries {where[2]}-{where[3]})" if where else ""
    cause = next((e for e in chain if isinstance(e, FourTopsError)), None)
    if cause is not None and not isinstance(cause, InputFileError):
        return IncompleteRunError(f"processing stopped{at}: {str(cause).rstrip('.')}. "
                                  "No output was written.")
    if is_timeout(err):
        where = next(filter(None, (re.search(r"filename='([^']*)'", str(e)) for e in chain)),
                     None)
        if where:
            name = where[1]
        elif len(remote_files) == 1:
            name = remote_files[0]
        else:  # coffea's file preprocessing does not say which file it was reading
            shown = ", ".join(remote_files[:5]) + (" ..." if len(remote_files) > 5 else "")
            name = f"one of the remote files ({shown})" if shown else "a remote file"
        return IncompleteRunError(
            f"processing stopped: reading {name} timed out{timeout_note}: the server stopped "
            "answering (the file itself may be fine). No output was written; finished chunks "
            "are kept, so a rerun resumes (give a longer --read-timeout for a slow site).")
    gap = next((e for e in chain if isinstance(e, AttributeError)
                and "no field named" in str(e)), None)
    if gap is not None:  # a column our code reads and the file's schema lacks
        return IncompleteRunError(
            f"processing stopped{at}: {gap}. No output was written. The file was readable, so "
            "this is a NanoAOD schema compatibility gap in fourtops (processors/compat.py), "
            "not a broken file; the fileset check's summary lists each file's flavour."
        )
    # coffea's retry notice ("Performed attempt 1 out of 4") is a warning raised while the
    # real error is handled; under an error filter for warnings it would replace it
    root = next((e for e in chain if not isinstance(e, Warning)), err)
    return IncompleteRunError(
        f"processing stopped: {root}. No output was written; fix or remove the file named "
        "above (or use --skip-bad-files for files that cannot be opened)."
    )


def _check_complete(output: dict[str, Any], fileset: Fileset) -> None:
    """Every entry of every usable file must have been processed exactly once."""
    done = output.get("entries", {})
    problems = []
    for name, ds in fileset.datasets.items():
        for path, expected in ds.files.items():
            got = done.get(name, {}).get(path, 0)
            if got != expected:
                problems.append(f"{path}: processed {got} of {expected} entries")
    if problems:
        raise IncompleteRunError("processing did not cover all inputs:\n  " +
                                 "\n  ".join(problems))


def checkpointer_for(config: AnalysisConfig, fileset: Fileset, infos: dict[str, DatasetInfo],
                     folder: Path) -> RunCheckpointer:
    """Checkpoints under ``folder``, keyed by the content of config, inputs and code."""
    def mask_stamp(mask: Any) -> str | None:  # certified lumi sections, by content
        masks = getattr(mask, "_masks", None)
        return None if masks is None else repr(sorted((k, v.tolist()) for k, v in
                                                      masks.items()))

    info_stamp = {name: [i.process, i.kind, i.era, i.norm, mask_stamp(i.lumi_mask)]
                  for name, i in sorted(infos.items())}
    files = {name: dict(ds.files) for name, ds in fileset.datasets.items()}
    return RunCheckpointer(folder, content_key(config.model_dump_json(), info_stamp, files))


def run_processor(config: AnalysisConfig, fileset: Fileset, infos: dict[str, DatasetInfo],
                  cluster: ClusterSpec, chunksize: int,
                  ml_columns: MLColumns | None = None,
                  checkpoints: RunCheckpointer | None = None,
                  read_timeout_s: float = DEFAULT_READ_TIMEOUT_S) -> RunResult:
    """Run the four-top processor over the fileset; raise if any input was not covered.

    ML columns (taggers, event DNN) come from the config's ``ml`` section unless
    ``ml_columns`` is given; on dask, every worker loads the models once at start-up.
    With ``checkpoints`` every finished chunk is stored, and chunks stored by an earlier,
    interrupted run with the same content key are taken from there instead of reprocessed.
    """
    from corrections import load_corrections
    from processors.ml import ml_columns_from_config

    corrections = load_corrections(config.corrections) if config.corrections else None
    if ml_columns is None:
        ml_columns, plugins = ml_columns_from_config(config)
        cluster = replace(cluster, worker_plugins=cluster.worker_plugins + plugins)
    proc = FourTopsProcessor(config, infos, corrections=corrections, ml_columns=ml_columns,
                             flavours=fileset.flavours())
    resumed = checkpoints.stored_chunks() if checkpoints is not None else 0
    start = time.perf_counter()
    with open_executor(cluster) as executor:
        runner = processor.Runner(executor=executor, schema=PipelineSchema, chunksize=chunksize,
                                  skipbadfiles=False, checkpointer=checkpoints,
                                  xrootdtimeout=max(1, round(read_timeout_s)))
        try:
            output = runner(fileset.for_coffea(), processor_instance=proc, treename="Events")
        except Exception as err:
            remote = tuple(p for ds in fileset.datasets.values() for p in ds.files if "://" in p)
            raise _stopped(err, read_timeout_s, remote) from err
    seconds = time.perf_counter() - start
    _check_complete(output, fileset)
    # the events the generator's skim did not write, in front of the processor's steps
    output["cutflow"] = with_generator_steps(output["cutflow"], generator_cutflows(config),
                                             {name: i.norm for name, i in infos.items()})
    return RunResult(output, fileset, seconds, fileset.total_entries, infos,
                     resumed_chunks=resumed)


def prepare(config_path: str | Path | None, skip_bad_files: bool,
            read_timeout_s: float = DEFAULT_READ_TIMEOUT_S, generation_processes: int = 1,
            progress: Callable[[str], None] | None = None,
            ) -> tuple[AnalysisConfig, Fileset, dict[str, DatasetInfo]]:
    """Load the config, make or find the inputs, check them and compute normalizations
    (``progress``: a line per generated sample and slice, see :func:`input_files`)."""
    config = load_config(config_path)
    check_generator_skim(config)
    config_dir = Path(config_path).resolve().parent if config_path else _default_dir()
    files = input_files(config, config_dir, generation_processes, progress)
    fileset = build_fileset(config, files, skip_bad_files, read_timeout_s)
    return config, fileset, dataset_infos(config, fileset, config_dir)


def _default_dir() -> Path:
    from analysis.config import default_config_path

    return default_config_path().parent

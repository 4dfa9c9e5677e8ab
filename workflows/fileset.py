"""The fileset: which files each dataset reads, whether they are usable, and normalization.

Before any chunk is processed every file is opened and its ``Events`` tree (TTree or
RNTuple) checked: the event-ID branches must be there, and the ``event`` branch is read in
full, which catches truncated files. Bad files stop the run with an error naming them, or,
when asked, are skipped and reported with the events they held. Each file's NanoAOD flavour
is detected here, once (``processors/compat.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import awkward as ak
import numpy as np
import uproot

from analysis.config import AnalysisConfig
from common.exceptions import InputFileError
from processors.compat import EVENT_ID, FileFlavour, detect_flavour

TREE = "Events"
#: Seconds a remote read (xrootd, HTTP) may wait for an answer before it fails.
DEFAULT_READ_TIMEOUT_S = 60.0


@dataclass
class BadFile:
    """A file that could not be used, why, and how many events it held (None if unknown)."""

    dataset: str
    path: str
    reason: str
    events: int | None


@dataclass
class DatasetFiles:
    """The usable files of one dataset with their entries and Σ genWeight."""

    name: str
    files: dict[str, int] = field(default_factory=dict)  # path -> entries
    sumw: float = 0.0
    sumw_source: str = "Runs"  # "Runs" or "Events" (fallback when a file has no Runs tree)
    flavours: dict[str, FileFlavour] = field(default_factory=dict)  # path -> NanoAOD flavour


@dataclass
class FileCheck:
    """What checking one file found."""

    entries: int
    runs_sumw: float | None  # Σ genWeight of the Runs tree, None without one
    events_sumw: float       # Σ genWeight of the Events (entries for data)
    flavour: FileFlavour | None


@dataclass
class Fileset:
    """All datasets' usable files plus the files that were skipped."""

    datasets: dict[str, DatasetFiles]
    bad_files: list[BadFile]

    def for_coffea(self) -> dict[str, dict]:
        """The fileset in the form coffea's Runner takes (only datasets with files)."""
        return {
            name: {"files": {path: TREE for path in ds.files}}
            for name, ds in self.datasets.items()
            if ds.files
        }

    def flavours(self) -> dict[str, FileFlavour]:
        """Every usable file's NanoAOD flavour, by path."""
        return {p: fl for ds in self.datasets.values() for p, fl in ds.flavours.items()}

    @property
    def total_entries(self) -> int:
        """Entries in all usable files."""
        return sum(sum(ds.files.values()) for ds in self.datasets.values())


def _runs_sumw(f: uproot.ReadOnlyDirectory) -> float | None:
    """Σ genWeight from the file's ``Runs`` tree (old and new branch names), None if absent."""
    if "Runs" not in f:
        return None
    runs = f["Runs"]
    for name in ("genEventSumw", "genEventSumw_"):
        if name in runs:
            return float(np.sum(runs[name].array(library="np")))
    return None


def _check_length(f: uproot.ReadOnlyDirectory, path: str) -> None:
    """A ROOT file records its length in the header; a shorter file was cut off."""
    size = getattr(f.file.source, "num_bytes", None)
    expected = int(f.file.fEND)
    if size is not None and size < expected:
        raise InputFileError(path, f"truncated: {size} bytes on disk, header says {expected}")


def is_timeout(err: BaseException) -> bool:
    """Whether ``err`` (or its chain) is a read that timed out.

    uproot 5.7 reports a timed-out HTTP range request as ``TypeError("'TimeoutError' object
    is not subscriptable")`` (fsspec hands it the exception object instead of bytes), so the
    message is checked as well as the type.
    """
    link: BaseException | None = err
    for _ in range(20):
        if link is None:
            return False
        if isinstance(link, TimeoutError) or "TimeoutError" in str(link):
            return True
        link = link.__cause__ or link.__context__
    return False


def _is_rntuple(tree: object) -> bool:
    return getattr(tree, "classname", "") == "ROOT::RNTuple"


def inspect_file(path: str, is_mc: bool, config: AnalysisConfig | None = None,
                 era: str = "", timeout_s: float = DEFAULT_READ_TIMEOUT_S) -> FileCheck:
    """Open a file, check its Events tree (TTree or RNTuple) and detect its NanoAOD flavour.

    Raises :class:`InputFileError` naming the file when it cannot be used (also when an
    event-ID field is missing), :class:`SchemaCompatibilityError` when it is readable but
    has a schema the processor cannot handle.
    """
    if not Path(path).exists() and "://" not in path:
        raise InputFileError(path, "file does not exist")
    try:
        with uproot.open(path, timeout=timeout_s) as f:
            if TREE not in f:
                raise InputFileError(path, f"no {TREE!r} tree (keys: {f.keys()})")
            _check_length(f, path)
            tree = f[TREE]
            entries = int(tree.num_entries)
            # an RNTuple may hold collections as records: field "Jet.pt" is branch "Jet_pt"
            names = {k.replace(".", "_") for k in tree.keys()}
            for field_name in EVENT_ID:  # lumi masks, event folds and smearing seeds use them
                if field_name not in names:
                    raise InputFileError(path, f"the event-ID branch {field_name!r} is missing")
            # One whole branch is decompressed so that damaged baskets show up here.
            tree.arrays(["event"], library="np")
            runs_sumw = _runs_sumw(f) if is_mc else None
            events_sumw = (
                float(np.sum(tree.arrays(["genWeight"], library="np")["genWeight"],
                             dtype=np.float64))
                if is_mc and entries and "genWeight" in names else float(entries)
            )
            ps = (set(np.unique(ak.num(tree.arrays(["PSWeight"])["PSWeight"])).tolist())
                  if is_mc and "PSWeight" in names and entries else None)
    except InputFileError:
        raise
    except Exception as err:
        if is_timeout(err):
            raise InputFileError(path, f"reading timed out after {timeout_s:g} s: the server "
                                 "stopped answering (the file itself may be fine; retry "
                                 "later or give a longer --read-timeout)") from err
        # uproot raises many types for corrupt files
        raise InputFileError(path, f"cannot be read ({type(err).__name__}: {err})") from err
    flavour = None
    if config is not None:
        storage = "RNTuple" if _is_rntuple(tree) else "TTree"
        flavour = detect_flavour(path, names, config, era, is_mc, storage, ps,
                                 has_runs=runs_sumw is not None or not is_mc)
    return FileCheck(entries, runs_sumw, events_sumw, flavour)


def _entries_if_readable(path: str) -> int | None:
    try:
        with uproot.open(path) as f:
            return int(f[TREE].num_entries)
    except Exception:
        return None


def build_fileset(config: AnalysisConfig, files: dict[str, list[str]],
                  skip_bad_files: bool, read_timeout_s: float = DEFAULT_READ_TIMEOUT_S,
                  ) -> Fileset:
    """Check every file of every dataset and compute each MC dataset's Σ genWeight.

    Σ genWeight comes from the ``Runs`` trees; a dataset in which any file lacks one
    (e.g. a skimmed file) is normalized with Σ genWeight of its events instead.
    """
    datasets: dict[str, DatasetFiles] = {}
    bad: list[BadFile] = []
    for name, paths in files.items():
        is_mc = config.datasets[name].kind == "mc"
        ds = DatasetFiles(name)
        runs_total, events_total, all_have_runs = 0.0, 0.0, True
        for path in paths:
            try:
                check = inspect_file(path, is_mc, config, config.datasets[name].era,
                                     read_timeout_s)
                if check.runs_sumw is None and is_mc and config.inputs.require_runs_tree:
                    raise InputFileError(path, "no 'Runs' tree, and inputs.require_runs_tree "
                                         "forbids normalizing with the events' genWeight")
            except InputFileError as err:
                if not skip_bad_files:
                    raise
                bad.append(BadFile(name, path, err.reason, _entries_if_readable(path)))
                continue
            ds.files[path] = check.entries
            if check.flavour is not None:
                ds.flavours[path] = check.flavour
            events_total += check.events_sumw
            if check.runs_sumw is None:
                all_have_runs = False
            else:
                runs_total += check.runs_sumw
        if is_mc:
            ds.sumw, ds.sumw_source = ((runs_total, "Runs") if all_have_runs
                                       else (events_total, "Events"))
        datasets[name] = ds
    return Fileset(datasets, bad)

"""Write :class:`~simulation.events.EventBlock` objects as NanoAOD ROOT files with uproot.

Branch types follow NanoAODv12 (``nano_tt_v12.root``) and, for the PF-candidate
collections, PFNano (``pfnano.root``). uproot writes every collection counter
(``nJet``, ``nPFCands``, ...) as int32, which is the NanoAODv12 convention; the older
PFNano file stores its counters as uint32 (a known, harmless difference).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import awkward as ak
import numpy as np
import uproot

from common.exceptions import GeneratorError
from simulation.events import EventBlock

F4, I4, U1, I2, U2, B = "f4", "i4", "u1", "i2", "u2", "?"

# collection -> field -> numpy dtype of the NanoAOD branch ``<collection>_<field>``
COLLECTION_TYPES: dict[str, dict[str, str]] = {
    "Jet": {"pt": F4, "eta": F4, "phi": F4, "mass": F4, "rawFactor": F4, "area": F4,
            "btagDeepFlavB": F4, "jetId": U1, "hadronFlavour": U1, "partonFlavour": I2,
            "genJetIdx": I2, "electronIdx1": I2, "electronIdx2": I2, "muonIdx1": I2,
            "muonIdx2": I2},
    "GenJet": {"pt": F4, "eta": F4, "phi": F4, "mass": F4, "partonFlavour": I2,
               "hadronFlavour": U1},
    "Electron": {"pt": F4, "eta": F4, "phi": F4, "mass": F4, "charge": I4, "pdgId": I4,
                 "cutBased": U1, "pfRelIso03_all": F4, "miniPFRelIso_all": F4, "dxy": F4,
                 "dz": F4, "genPartIdx": I2, "jetIdx": I2},
    "Muon": {"pt": F4, "eta": F4, "phi": F4, "mass": F4, "charge": I4, "pdgId": I4,
             "tightId": B, "mediumId": B, "looseId": B, "pfRelIso04_all": F4,
             "pfRelIso03_all": F4, "miniPFRelIso_all": F4, "dxy": F4, "dz": F4,
             "genPartIdx": I2, "jetIdx": I2},
    "GenPart": {"pt": F4, "eta": F4, "phi": F4, "mass": F4, "pdgId": I4, "status": I4,
                "statusFlags": U2, "genPartIdxMother": I2},
    "FatJet": {"pt": F4, "eta": F4, "phi": F4, "mass": F4, "msoftdrop": F4, "tau1": F4,
               "tau2": F4, "tau3": F4, "rawFactor": F4, "area": F4, "jetId": U1,
               "hadronFlavour": U1, "nConstituents": U1, "nBHadrons": U1},
    "PFCands": {"pt": F4, "eta": F4, "phi": F4, "mass": F4, "charge": I4, "pdgId": I4,
                "d0": F4, "dz": F4, "puppiWeight": F4},
    "FatJetPFCands": {"pt": F4, "jetIdx": I4, "pFCandsIdx": I4},
}
FLAT_TYPES: dict[str, str] = {
    "run": "u4", "luminosityBlock": "u4", "event": "u8", "genWeight": F4,
    "LHEScaleWeight": F4, "PSWeight": F4, "Pileup_nTrueInt": F4, "Pileup_nPU": I4,
    "PV_npvs": U1, "PV_npvsGood": U1, "Rho_fixedGridRhoFastjetAll": F4,
    "HLT_PFHT1050": B, "HLT_PFHT330PT30_QuadPFJet_75_60_45_40_TriplePFBTagDeepJet_4p5": B,
}
RUNS_TYPES = {"run": "u4", "genEventCount": "i8", "genEventSumw": "f8", "genEventSumw2": "f8"}
# Mantissa bits kept in the float branches that PFNano stores with reduced precision, as
# measured on the reference file pfnano.root (the lower bits of every value there are zero):
# pT, mass, d0, dz and PUPPI weight 10 bits, eta and phi 13 (float32 has 23). With the
# dropped bits zero these branches compress; at full precision they do not.
MANTISSA_BITS: dict[str, int] = {
    "PFCands_pt": 10, "PFCands_mass": 10, "PFCands_d0": 10, "PFCands_dz": 10,
    "PFCands_puppiWeight": 10, "PFCands_eta": 13, "PFCands_phi": 13, "FatJetPFCands_pt": 10,
}
# ZSTD level 1 (uproot reads it through cramjam, its own dependency): on the pseudo-data's
# PF candidates a third smaller than LZ4 level 1 and as fast to write and read
# (benchmarks/bench_generator.py prints the disk per fb^-1).
COMPRESSION = uproot.ZSTD(1)
# Events simulated and written at a time: a file's events go in chunks of this many (one
# basket each), so memory holds one chunk's PF candidates, not the whole file's. A fixed
# number, so that the events depend on the seed only, not on the machine.
EVENTS_PER_CHUNK = 10_000


def chunks(a: int, b: int) -> list[tuple[int, int]]:
    """(start, stop) of the chunks of events a..b-1; one empty chunk when a == b (so that
    an empty file still gets every branch)."""
    return [(c, min(c + EVENTS_PER_CHUNK, b)) for c in range(a, b, EVENTS_PER_CHUNK)] or [(a, a)]


def _zip_jagged(fields: dict[str, np.ndarray], counts: np.ndarray) -> ak.Array:
    """``ak.zip({k: ak.unflatten(v, counts)})`` built directly from the flat contents.

    One shared offsets array instead of one ``unflatten`` per field (same type and values:
    ``var * {fields}``).
    """
    offsets = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    record = ak.contents.RecordArray(
        [ak.contents.NumpyArray(v) for v in fields.values()], list(fields),
        length=int(offsets[-1]))
    return ak.Array(ak.contents.ListOffsetArray(ak.index.Index64(offsets), record))


def reduce_mantissa(x: np.ndarray, bits: int) -> np.ndarray:
    """float32 ``x`` rounded to ``bits`` mantissa bits (to nearest; NanoAOD's ``precision``)."""
    drop = 23 - bits
    u = np.ascontiguousarray(x, np.float32).view(np.uint32)
    rounded = (u + np.uint32(1 << (drop - 1))) & np.uint32(~((1 << drop) - 1) & 0xFFFFFFFF)
    return rounded.view(np.float32)


def to_branches(block: EventBlock) -> dict[str, object]:
    """Branch dictionary for ``uproot`` (collections zipped, dtypes cast to NanoAOD's)."""
    out: dict[str, object] = {}
    for name, flat in block.flat.items():
        dtype = FLAT_TYPES[name]
        if flat.ndim == 2:  # fixed-length weight vectors are jagged in NanoAOD
            out[name] = ak.unflatten(flat.astype(dtype).ravel(), np.full(len(flat),
                                                                         flat.shape[1]))
        else:
            out[name] = flat.astype(dtype)
    for cname, coll in block.collections.items():
        types = COLLECTION_TYPES[cname]
        if "counts" in coll:  # already flat, with the entries per event
            counts = coll["counts"]
            fields = {k: np.asarray(v).astype(types[k], copy=False) for k, v in coll.items()
                      if k != "counts"}
            for k, v in fields.items():
                if f"{cname}_{k}" in MANTISSA_BITS:
                    fields[k] = reduce_mantissa(v, MANTISSA_BITS[f"{cname}_{k}"])
        else:
            valid = coll["valid"]
            counts = valid.sum(axis=1)
            idx = np.flatnonzero(valid)  # the same selection as v[valid], shared by all fields
            fields = {}
            for k, v in coll.items():
                if k != "valid":
                    assert v.shape == valid.shape, (cname, k, v.shape, valid.shape)
                    fields[k] = np.ascontiguousarray(v).reshape(-1)[idx].astype(types[k])
        out[cname] = _zip_jagged(fields, counts)  # var * {fields}: one counter n<cname>
    return out


def _tree(f, name: str, chunks: Iterable[dict[str, object]]) -> None:
    """Write a TTree from branch dictionaries, one basket per chunk."""
    tree = None
    for data in chunks:
        if tree is None:
            types = {k: (v.type if isinstance(v, ak.Array) else v.dtype) for k, v in data.items()}
            tree = f.mktree(name, types)
        tree.extend(data)
    if tree is None:
        raise GeneratorError(f"no data for tree {name!r}: pass at least one (possibly empty) "
                             "chunk of events")


def write_file(path: Path, blocks: EventBlock | Iterable[EventBlock],
               runs: dict[str, np.ndarray] | Callable[[], dict[str, np.ndarray]]) -> Path:
    """Write one NanoAOD file with ``Events`` and ``Runs`` trees (``COMPRESSION``).

    ``blocks`` may be one block or an iterable of consecutive blocks (built lazily, one
    at a time, so that memory holds only one chunk of events: see ``EVENTS_PER_CHUNK``).
    ``runs`` is the Runs tree's content, or a function giving it once all events are
    written (for contents that depend on them).
    """
    path = Path(path)
    tmp = path.with_suffix(".tmp.root")
    if isinstance(blocks, EventBlock):
        blocks = [blocks]
    try:
        with uproot.recreate(tmp, compression=COMPRESSION) as f:
            # mktree forces a TTree (plain assignment may write an RNTuple in recent uproot)
            _tree(f, "Events", (to_branches(b) for b in blocks))
            runs = runs() if callable(runs) else runs
            _tree(f, "Runs", [{k: np.asarray(v).astype(RUNS_TYPES[k])
                               for k, v in runs.items()}])
    except BaseException:
        tmp.unlink(missing_ok=True)  # never leave a partial file behind
        raise
    tmp.replace(path)  # atomic: a crash never leaves a half-written file under the name
    return path

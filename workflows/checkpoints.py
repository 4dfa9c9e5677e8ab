"""Finished chunks on disk, so that an interrupted run resumes where it stopped.

coffea's Runner asks a checkpointer for every chunk before processing it and hands it the
chunk's output afterwards. :class:`RunCheckpointer` keeps those outputs under
``<folder>/<key>/``, where ``key`` is a content hash of everything a chunk's result depends
on: the analysis configuration, the normalizations, the input files (path, size,
modification time, entries) and the source of the code that runs in ``process()``. A rerun
with another config, other inputs or changed code gets another key, so its checkpoints are
never mixed with these. Each chunk's file is keyed by the file's UUID and entry range, as
coffea's ``SimpleCheckpointer`` does; we add the content key, write atomically (a killed
worker never leaves a half-written checkpoint that a rerun would trust), count hits, and
delete the checkpoints once the run's outputs are written. They are ZSTD-compressed (level
1, ~20 ms per 5 MB): a data chunk's checkpoint is almost all its feature table, 4.7 MB
raw and half that compressed, which at 138 fb^-1 is 5.2 GB raw on disk.

Checkpoints are an internal cache (cloudpickle, like coffea's own), not an output a user
keeps. Workers write them, so on a batch cluster the output folder must be on a file system
the workers share with the submit host (otherwise nothing is resumed, and nothing breaks).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import cloudpickle
import cramjam
from coffea.processor import CheckpointerABC

from workflows.code_version import PROCESSING_CODE, code_digest


def content_key(config_json: str, infos: dict[str, Any], files: dict[str, dict[str, int]]) -> str:
    """Hash of config, per-dataset normalization info, input files and processing code."""
    stamp = {}
    for dataset, entries in sorted(files.items()):
        for path, n in sorted(entries.items()):
            try:
                stat = os.stat(path)
                stamp[f"{dataset}:{path}"] = [n, stat.st_size, stat.st_mtime_ns]
            except OSError:  # remote file: its path and entries identify it
                stamp[f"{dataset}:{path}"] = [n]
    payload = json.dumps({"config": config_json, "infos": infos, "files": stamp,
                          "code": code_digest(*PROCESSING_CODE)}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


SUFFIX = ".pkl.zst"  # a checkpoint: a cloudpickled chunk output, ZSTD-compressed


class RunCheckpointer(CheckpointerABC):
    """Chunk outputs under ``folder/key`` (see the module docstring)."""

    def __init__(self, folder: Path, key: str) -> None:
        self.folder = Path(folder)
        self.key = key
        self.directory = self.folder / key

    def _path(self, metadata: dict[str, Any]) -> Path:
        name = f"{metadata['entrystart']}-{metadata['entrystop']}{SUFFIX}"
        file_id = metadata.get("fileuuid") or hashlib.sha256(
            str(metadata["filename"]).encode()).hexdigest()[:16]
        return self.directory / str(metadata["dataset"]) / file_id / name

    def load(self, metadata: Any, processor_instance: Any) -> Any | None:
        """The stored output of this chunk, or None (absent or unreadable: reprocess)."""
        path = self._path(metadata)
        if not path.is_file():
            return None
        try:
            return cloudpickle.loads(bytes(cramjam.zstd.decompress(path.read_bytes())))
        except Exception:  # a damaged checkpoint is recomputed, never trusted
            return None

    def save(self, output: Any, metadata: Any, processor_instance: Any) -> None:
        """Store this chunk's output atomically (temporary file, then rename)."""
        path = self._path(metadata)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        tmp.write_bytes(bytes(cramjam.zstd.compress(cloudpickle.dumps(output), level=1)))
        os.replace(tmp, path)

    def stored_chunks(self) -> int:
        """Number of chunk outputs stored under this key."""
        return sum(1 for _ in self.directory.rglob(f"*{SUFFIX}")) if self.directory.is_dir() else 0

    def clear(self) -> None:
        """Remove every checkpoint of this folder (after the run's outputs are written)."""
        shutil.rmtree(self.folder, ignore_errors=True)

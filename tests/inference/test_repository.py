"""Model repository: writer output, loader validation, metadata."""

from __future__ import annotations

import shutil
from pathlib import Path

import onnx
import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

from common.exceptions import ModelNotFoundError, ModelRepositoryError
from inference.metadata import REQUIRED_KEYS, read_metadata, set_metadata, validate_metadata
from inference.repository import load_repository, write_model
from tests.inference.onnx_models import N_FEATURES, linear_model, mlp_model


def _config(path: Path) -> mc.ModelConfig:
    return text_format.Parse((path / "config.pbtxt").read_text(), mc.ModelConfig())


def test_write_model_generates_triton_config(tmp_path: Path) -> None:
    model_dir = write_model(
        tmp_path, "mlp", mlp_model(), max_batch_size=512, max_queue_delay_microseconds=300
    )
    assert model_dir == tmp_path / "mlp"
    assert (model_dir / "1" / "model.onnx").is_file()
    config = _config(model_dir)
    assert config.platform == "onnxruntime_onnx"
    assert config.max_batch_size == 512
    assert config.dynamic_batching.max_queue_delay_microseconds == 300
    # Dims exclude the batch dim, types use Triton's TYPE_ names.
    assert [(i.name, mc.DataType.Name(i.data_type), list(i.dims)) for i in config.input] == [
        ("features", "TYPE_FP32", [N_FEATURES])
    ]
    assert [(o.name, list(o.dims)) for o in config.output] == [("score", [1]), ("logits", [2])]


def test_write_model_without_dynamic_batching(tmp_path: Path) -> None:
    write_model(tmp_path, "lin", linear_model(), max_batch_size=8, dynamic_batching=False)
    entry = load_repository(tmp_path).get("lin")
    assert not entry.dynamic_batching
    assert entry.max_queue_delay_us == 0


def test_load_repository_reads_versions_and_metadata(tmp_path: Path) -> None:
    write_model(tmp_path, "lin", linear_model(), max_batch_size=8, version=1)
    write_model(tmp_path, "lin", linear_model(), max_batch_size=8, version=3)
    # Triton's default version policy serves the latest version only.
    assert sorted(load_repository(tmp_path).get("lin").versions) == [3]
    config = tmp_path / "lin" / "config.pbtxt"
    config.write_text(config.read_text() + "version_policy { all { } }\n")
    repo = load_repository(tmp_path)
    entry = repo.get("lin")
    assert sorted(entry.versions) == [1, 3]
    assert entry.latest_version == 3
    assert entry.path() == tmp_path / "lin" / "3" / "model.onnx"
    assert entry.path("1") == tmp_path / "lin" / "1" / "model.onnx"
    assert entry.metadata["metrics"] == {"auc": 0.5}
    assert entry.kserve_metadata()["inputs"] == [
        {"name": "x", "datatype": "FP32", "shape": [-1, 3]}
    ]
    with pytest.raises(ModelNotFoundError, match="no version 2; available: \\[1, 3\\]"):
        entry.path(2)
    with pytest.raises(ModelNotFoundError, match="served models: \\['lin'\\]"):
        repo.get("nope")


def test_metadata_roundtrip_and_replacement() -> None:
    model = linear_model()
    set_metadata(model, version="2", metrics={"auc": 0.9})
    meta = read_metadata(model)
    assert meta["version"] == "2"
    assert meta["metrics"] == {"auc": 0.9}
    assert [p.key for p in model.metadata_props].count("version") == 1
    assert set(REQUIRED_KEYS) <= set(meta)


def test_write_model_refuses_incomplete_metadata(tmp_path: Path) -> None:
    model = linear_model()
    props = [p for p in model.metadata_props if p.key != "license"]
    del model.metadata_props[:]
    model.metadata_props.extend(props)
    with pytest.raises(ModelRepositoryError, match="'lin'.*lacks \\['license'\\]"):
        write_model(tmp_path, "lin", model, max_batch_size=8)


def test_validate_metadata_checks_json_types() -> None:
    meta = read_metadata(linear_model())
    meta["inputs"] = "x"
    with pytest.raises(ModelRepositoryError, match="'inputs' must be a JSON list"):
        validate_metadata(meta, "m")
    meta = read_metadata(linear_model())
    meta["outputs"] = [{"meaning": "no name"}]
    with pytest.raises(
        ModelRepositoryError, match="outputs\\[0\\] must be an object with a 'name'"
    ):
        validate_metadata(meta, "m")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    write_model(tmp_path, "lin", linear_model(), max_batch_size=8)
    return tmp_path


def _edit_config(repo: Path, old: str, new: str) -> None:
    path = repo / "lin" / "config.pbtxt"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("TYPE_FP32", "TYPE_FP64", "input 'x' is FP64 in config.pbtxt but FP32 in the ONNX graph"),
        ("dims: 3", "dims: 4", "input 'x' has dims \\[4\\] in config.pbtxt but \\[3\\]"),
        ('name: "x"', 'name: "z"', "config inputs \\['z'\\] differ from the ONNX graph inputs"),
        ("onnxruntime_onnx", "tensorflow_savedmodel", "platform 'tensorflow_savedmodel'"),
        ('name: "lin"', 'name: "other"', "names it 'other'"),
        ("max_batch_size", "max_batch_sizes", "does not parse"),
    ],
)
def test_config_inconsistent_with_graph_is_rejected(repo: Path, old, new, message) -> None:
    _edit_config(repo, old, new)
    with pytest.raises(ModelRepositoryError, match=f"model 'lin'.*{message}"):
        load_repository(repo)


def test_missing_pieces_are_rejected(repo: Path) -> None:
    (repo / "lin" / "1" / "model.onnx").write_bytes(b"not an onnx file")
    with pytest.raises(ModelRepositoryError, match="'lin' version 1"):
        load_repository(repo)
    shutil.rmtree(repo / "lin" / "1")
    with pytest.raises(ModelRepositoryError, match="no numeric version folder"):
        load_repository(repo)
    (repo / "lin" / "config.pbtxt").unlink()
    (repo / "lin" / "2").mkdir()
    with pytest.raises(ModelRepositoryError, match="no model.onnx or model.pt"):
        load_repository(repo)
    with pytest.raises(ModelRepositoryError, match="is not a folder"):
        load_repository(repo / "absent")


def test_model_on_disk_without_metadata_is_served_undocumented(repo: Path) -> None:
    path = repo / "lin" / "1" / "model.onnx"
    model = onnx.load(str(path))
    del model.metadata_props[:]
    onnx.save(model, str(path))
    entry = load_repository(repo).get("lin")
    assert not entry.documented
    assert "metadata_props lacks" in entry.missing_metadata[0]
    assert entry.kserve_metadata()["documented"] is False

"""Training/model configuration: shipped YAMLs validate; bad keys and values are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from napari_dcpt.config import (
    ModelConfig,
    TrainingConfig,
    load_training_config,
    training_config_from_dict,
)
from napari_dcpt.errors import ConfigError

CONFIGS = Path(__file__).parents[1] / "training" / "configs"


@pytest.mark.parametrize("name", ["tiny.yaml", "mr.yaml", "ct.yaml"])
def test_shipped_configs_validate(name: str) -> None:
    cfg = load_training_config(CONFIGS / name)

    assert isinstance(cfg, TrainingConfig)
    assert cfg.model.levels >= 2


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"pretrain": {"steps": 0}}, "pretrain.steps"),
        ({"model": {"width": 2}}, "model.width"),
        ({"model": {"widht": 16}}, "model.widht"),
        ({"data": {"modality": "PET"}}, "data.modality"),
        ({"finetune": {"ema_decay": 1.0}}, "finetune.ema_decay"),
        ({"data": {"batch_size": 10, "patches_per_slice": 4}}, "data"),
        ({"unknown_top": 1}, "unknown_top"),
    ],
)
def test_bad_values_name_the_key(data: dict, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        training_config_from_dict(data, "cfg.yaml")

    msg = str(info.value)
    assert msg.startswith("cfg.yaml: ")
    assert key in msg
    assert "\n" not in msg


def test_bad_yaml_file_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {width: 16\n")

    with pytest.raises(ConfigError, match="bad.yaml"):
        load_training_config(bad)
    with pytest.raises(ConfigError, match="missing.yaml"):
        load_training_config(tmp_path / "missing.yaml")


def test_unknown_classifier_stage_is_rejected() -> None:
    with pytest.raises(ConfigError, match="classifier.stages"):
        training_config_from_dict({"model": {"classifier": {"stages": ["dec.7"]}}})


def test_model_config_rules() -> None:
    with pytest.raises(ValueError, match="in_slices"):
        ModelConfig(in_slices=2)
    with pytest.raises(ValueError, match="dec_blocks"):
        ModelConfig(enc_blocks=(1, 1), dec_blocks=(1,))
    cfg = ModelConfig(enc_blocks=(1, 1, 1), dec_blocks=(1, 1, 1))
    assert cfg.stage_names == ("middle", "dec.0", "dec.1", "dec.2")
    assert cfg.classifier_stages == cfg.stage_names


def test_every_field_has_a_description() -> None:
    from napari_dcpt import config as c

    models = [
        c.ClassifierConfig,
        c.ModelConfig,
        c.DegradationSampling,
        c.DataConfig,
        c.StageConfig,
        c.TrainingConfig,
    ]
    for m in models:
        for name, field in m.model_fields.items():
            assert field.description, f"{m.__name__}.{name} has no description"

"""`training.timed` writes configs whose step counts and curve points are what it planned."""

import yaml

from training.timed import _write_config


def test_written_config_sets_steps_and_ten_validation_points(tmp_path):
    base = {"pretrain": {"steps": 1}, "finetune": {"steps": 1}, "data": {}}
    path = _write_config(base, tmp_path / "c.yaml", pretrain=400, finetune=5000)
    cfg = yaml.safe_load(path.read_text())
    assert cfg["pretrain"]["steps"] == 400 and cfg["finetune"]["steps"] == 5000
    assert cfg["finetune"]["val_every"] == 500 and cfg["finetune"]["checkpoint_every"] == 500
    assert base["finetune"]["steps"] == 1  # the base config is not modified

"""Benchmark plumbing: a cached degraded case is only reused for the same simulator."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import common
from napari_dcpt.degradations import sample_record


def _volume() -> common.TestVolume:
    clean = np.random.default_rng(0).uniform(0, 100, (4, 16, 16)).astype(np.float32)
    return common.TestVolume("v", "MR", clean, (1.0, 1.0, 1.0), np.eye(4))


def test_case_key_follows_volume_record_and_simulator_code(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    vol, rec = _volume(), sample_record("MR", 3, types="bias_field")
    key = common.case_key(vol, rec)
    assert common.case_key(vol, rec) == key
    assert common.case_key(vol, sample_record("MR", 4, types="bias_field")) != key
    # an edited simulator (any source file of napari_dcpt.degradations) is a new case
    monkeypatch.setattr(common, "_simulator_digest", lambda: b"edited")
    assert common.case_key(vol, rec) != key

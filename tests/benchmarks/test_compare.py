"""The shipping-rule summary reads cells, means and the worst case correctly."""

from __future__ import annotations

import math

import pytest

from benchmarks.compare import Row, main, summarise


def _rows() -> list[Row]:
    return [
        Row("brain", "single", "blur/mild", 0.10),
        Row("breast", "single", "blur/mild", -0.30),  # cell mean -0.10: at or below
        Row("brain", "single", "blur/severe", 0.50),
        Row("breast", "single", "blur/severe", 0.70),
        Row("brain", "single", "spike/mild", 3.00),
        Row("breast", "single", "spike/mild", 1.00),
        Row("brain", "mixture", "blur+spike", 1.00),
        Row("breast", "mixture", "blur+spike", 2.00),
        Row("brain", "clean", "clean", 70.0),
        Row("breast", "clean", "clean", 80.0),
    ]


def test_summary_averages_volumes_per_cell_and_cells_per_type() -> None:
    s = summarise(_rows())
    assert (s.cells, s.cells_at_or_below) == (3, 1)
    assert s.lowest_cell == "blur/mild" and math.isclose(s.lowest_gain, -0.10)
    # blur's two cells average to +0.25 first, so spike's single cell weighs as much
    assert math.isclose(s.mean_single_gain, (0.25 + 2.0) / 2)
    assert math.isclose(s.mean_mixture_gain, 1.5)
    assert math.isclose(s.clean_psnr, 75.0)
    assert (s.worst_case, s.worst_gain) == ("breast blur/mild", -0.30)
    assert "lowest blur/mild -0.100 dB" in s.line() and "worst case breast blur/mild" in s.line()


def test_summary_without_single_rows_is_an_error() -> None:
    with pytest.raises(ValueError, match="no single-degradation rows"):
        summarise([Row("brain", "clean", "clean", 70.0)])


def test_missing_weights_file_is_one_line_error(tmp_path) -> None:
    with pytest.raises(SystemExit, match="no such weights file"):
        main([str(tmp_path / "absent.safetensors")])

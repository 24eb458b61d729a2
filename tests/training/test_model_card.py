"""The model card's derived numbers (curve flatness) come from the metrics as logged."""

from training.model_card import flatness


def test_flatness_compares_the_last_point_with_the_one_nearest_half_its_steps():
    ms = [{"step": s, "psnr_restored": p} for s, p in ((100, 30.0), (250, 31.0), (500, 31.3))]
    start, end, gain = flatness(ms)
    assert (start, end) == (250, 500)
    assert abs(gain - 0.3) < 1e-9


def test_flatness_needs_two_points():
    assert flatness([{"step": 10, "psnr_restored": 1.0}]) is None

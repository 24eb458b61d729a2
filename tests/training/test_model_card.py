"""The model card's derived numbers (curve flatness) come from the metrics as logged."""

from training.model_card import flatness


def test_flatness_compares_the_last_point_with_the_one_nearest_half_its_steps():
    ms = [{"step": s, "psnr_restored": p} for s, p in ((100, 30.0), (250, 31.0), (500, 31.3))]
    start, end, gain = flatness(ms)
    assert (start, end) == (250, 500)
    assert abs(gain - 0.3) < 1e-9


def test_flatness_needs_two_points():
    assert flatness([{"step": 10, "psnr_restored": 1.0}]) is None


def test_continued_fine_tunings_are_counted_on_from_the_previous_runs_last_step(tmp_path):
    import json

    from training.model_card import fine_tuning_curve

    for run, rows in (
        ("mr_ft", ((500, 29.0), (1000, 29.2))),
        ("mr_cont", ((600, 29.1), (1200, 29.25))),
        ("mr_psnr", ((500, 29.4), (1000, 29.5))),  # a second continuation counts on after it
    ):
        (tmp_path / run).mkdir()
        (tmp_path / run / "metrics.jsonl").write_text(
            "".join(json.dumps({"step": s, "psnr_restored": p}) + "\n" for s, p in rows)
        )

    curve = fine_tuning_curve(tmp_path, "mr")

    assert [m["step"] for m in curve] == [500, 1000, 1600, 2200, 2700, 3200]
    start, end, gain = flatness(curve)  # the doubling reaches back into the first continuation
    assert (start, end) == (1600, 3200) and abs(gain - 0.4) < 1e-9
    assert [m["step"] for m in fine_tuning_curve(tmp_path, "ct")] == []

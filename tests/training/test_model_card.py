"""The model card's derived numbers (curve flatness) come from the metrics as logged."""

from training.model_card import flatness


def _jsonl(path, rows):
    import json

    path.write_text("".join(json.dumps({"step": s, "psnr_restored": p}) + "\n" for s, p in rows))


def _runs_with_lost_metrics(root):
    """mr_ft (1000 steps) and mr_cont (600) kept only their configs; mr_floor (400) all."""
    import yaml

    for run, steps, rows in (
        ("mr_ft", 1000, ()),
        ("mr_cont", 600, ()),
        ("mr_floor", 400, ((200, 29.5), (400, 29.6))),
    ):
        (root / run).mkdir()
        (root / run / "config.yaml").write_text(yaml.safe_dump({"finetune": {"steps": steps}}))
        if rows:
            _jsonl(root / run / "metrics.jsonl", rows)


def test_flatness_compares_the_last_point_with_the_one_nearest_half_its_steps():
    ms = [{"step": s, "psnr_restored": p} for s, p in ((100, 30.0), (250, 31.0), (500, 31.3))]
    start, end, gain = flatness(ms)
    assert (start, end) == (250, 500)
    assert abs(gain - 0.3) < 1e-9


def test_flatness_needs_two_points():
    assert flatness([{"step": 10, "psnr_restored": 1.0}]) is None


def test_continued_fine_tunings_are_counted_on_from_the_previous_runs_last_step(tmp_path):
    from training.model_card import fine_tuning_curve

    for run, rows in (
        ("mr_ft", ((500, 29.0), (1000, 29.2))),
        ("mr_cont", ((600, 29.1), (1200, 29.25))),
        ("mr_psnr", ((500, 29.4), (1000, 29.5))),  # a second continuation counts on after it
    ):
        (tmp_path / run).mkdir()
        _jsonl(tmp_path / run / "metrics.jsonl", rows)

    curve = fine_tuning_curve(tmp_path, "mr")

    assert [m["step"] for m in curve] == [500, 1000, 1600, 2200, 2700, 3200]
    start, end, gain = flatness(curve)  # the doubling reaches back into the first continuation
    assert (start, end) == (1600, 3200) and abs(gain - 0.4) < 1e-9
    assert [m["step"] for m in fine_tuning_curve(tmp_path, "ct")] == []


def test_flatness_compares_points_on_one_set_of_validation_samples(tmp_path):
    # mr_psnr ran on a changed simulator: its start file is mr_cont's end revalidated on
    # mr_psnr's samples (28.0 dB), far below what mr_cont logged on the old ones (29.5).
    import json

    import yaml

    from training.model_card import curve_status, fine_tuning_curve

    for run, rows in (
        ("mr_ft", ((500, 29.0), (1000, 29.2))),
        ("mr_cont", ((500, 29.4), (1000, 29.5))),
        ("mr_psnr", ((1000, 28.3), (2000, 28.35))),
    ):
        (tmp_path / run).mkdir()
        (tmp_path / run / "config.yaml").write_text(yaml.safe_dump({"finetune": {"steps": 1000}}))
        _jsonl(tmp_path / run / "metrics.jsonl", rows)
    (tmp_path / "mr_psnr" / "config.yaml").write_text(yaml.safe_dump({"finetune": {"steps": 2000}}))
    (tmp_path / "mr_psnr_start.jsonl").write_text(json.dumps({"step": 2000, "psnr_restored": 28.0}))

    curve = fine_tuning_curve(tmp_path, "mr")

    assert [(m["step"], m["samples"]) for m in curve] == [
        (500, "mr_ft"), (1000, "mr_ft"), (1500, "mr_ft"), (2000, "mr_ft"),
        (2000, "mr_psnr"), (3000, "mr_psnr"), (4000, "mr_psnr"),
    ]  # fmt: skip
    start, end, gain = flatness(curve)  # from the revalidated start, not from 29.5
    assert (start, end) == (2000, 4000) and abs(gain - 0.35) < 1e-9
    assert curve_status(curve)[0] is False
    # a shorter run on the new samples: no point of theirs near half its steps, so the
    # gain since the start is read instead: +0.3 dB in 1.5x the steps is not flat
    short = [m for m in curve if m["step"] <= 3000]
    assert flatness(short) is None
    ok, what, _ = curve_status(short)
    assert ok is False and "from step 2000 to 3000" in what


def test_flatness_is_not_measured_across_a_gap_in_the_records():
    # points at 900 and 1000 only: 900 is not half of 1000, so no doubling can be read
    ms = [{"step": 900, "psnr_restored": 30.0}, {"step": 1000, "psnr_restored": 30.01}]
    assert flatness(ms) is None


def test_a_run_whose_metrics_were_lost_still_counts_its_configured_steps(tmp_path):
    from training.model_card import fine_tuning_curve

    _runs_with_lost_metrics(tmp_path)

    curve = fine_tuning_curve(tmp_path, "mr")

    assert [m["step"] for m in curve] == [1800, 2000]
    assert flatness(curve) is None  # nothing near step 1000 survives
    (tmp_path / "mr_ft" / "config.yaml").unlink()  # the first run's length unknown: no offsets
    assert fine_tuning_curve(tmp_path, "mr") == []


def test_the_card_lists_runs_in_chain_order_and_tables_the_last_evaluated_one(tmp_path):
    import json

    import yaml

    from training.model_card import section

    def run(name, cfg, top1_right, steps=(100, 200)):
        (tmp_path / name / "eval").mkdir(parents=True)
        (tmp_path / name / "config.yaml").write_text(yaml.safe_dump(cfg))
        (tmp_path / name / "metrics.jsonl").write_text(
            "".join(
                json.dumps(
                    {"step": s, "psnr_restored": 30.0, "psnr_degraded": 25.0, "acc_exact": 0.5}
                )
                + "\n"
                for s in steps
            )
        )
        rows = [
            {
                "condition": c,
                "severity": s,
                "psnr_degraded": 25.0,
                "psnr_restored": 26.0,
                "ssim_degraded": 0.8,
                "ssim_restored": 0.9,
                "acc_exact": 1.0,
            }
            for c, s in (("clean", None), ("noise", "mild"), ("mixed", None))
        ]
        conf = [[4, 0], [4 - top1_right, top1_right]]
        (tmp_path / name / "eval" / "eval.json").write_text(
            json.dumps({"vocabulary": ["clean", "noise"], "rows": rows, "confusion": conf})
        )

    data = {"root": "r", "patch_size": 64, "batch_size": 8}
    run("mr_ft", {"data": data, "pretrain": {"steps": 100}, "finetune": {"steps": 200}}, 1)
    run("mr_floor", {"finetune": {"steps": 200, "restoration_loss": "psnr"}}, 2)
    out = tmp_path / "out"
    out.mkdir()
    text = "\n".join(section(tmp_path, "mr", out))
    assert "Top-1 accuracy on single degradations: 50 %" in text  # mr_floor's, not mr_ft's
    assert "The shipped file's classifier is the refit head" not in text

    run("mr_head", {"head": {"min_size": 48, "max_size": 256}}, 4)  # a refit after them
    text = "\n".join(section(tmp_path, "mr", out))
    order = [text.index(f"`{n}`") for n in ("mr_floor", "mr_head")]
    assert order == sorted(order)
    assert "Top-1 accuracy on single degradations: 100 %" in text
    assert "The shipped file's classifier is the refit head" in text


def test_recomputed_points_fill_the_gaps_of_lost_records_and_bound_the_doubling(tmp_path):
    from training.model_card import fine_tuning_curve, gain_since_half

    _runs_with_lost_metrics(tmp_path)
    # recomputed from the files each run shipped; 2000 duplicates a logged point
    _jsonl(tmp_path / "mr_revalidated.jsonl", ((1000, 29.0), (1600, 29.2), (2000, 99.0)))

    curve = fine_tuning_curve(tmp_path, "mr")

    assert [(m["step"], m["psnr_restored"]) for m in curve] == [
        (1000, 29.0),
        (1600, 29.2),
        (1800, 29.5),
        (2000, 29.6),  # the logged value wins
    ]
    assert flatness(curve) is not None  # step 1000 is half of 2000 now
    start, end, gain = gain_since_half(curve[1:])  # without it: the shorter span from 1600
    assert (start, end) == (1600, 2000) and abs(gain - 0.4) < 1e-9
    assert flatness(curve[1:]) is None
    assert gain_since_half(curve[-1:]) is None


def _ct_benchmarks(tmp_path):
    """Benchmark results for CT only: ring above its input, severe blur below."""
    import json

    def row(method, kind, typ, sev, psnr, volume="v1"):
        return {
            "modality": "CT",
            "method": method,
            "kind": kind,
            "type": typ,
            "severity": sev,
            "volume": volume,
            "case": f"{typ}/{sev}",
            "psnr_mask": psnr,
        }

    rows = [
        row("input", "clean", "clean", "", 150.0),
        row("napari-dcpt", "clean", "clean", "", 70.0),
        row("input", "single", "ring", "mild", 40.0),
        row("napari-dcpt", "single", "ring", "mild", 41.0),
        row("input", "single", "ring", "mild", 30.0, volume="v2"),
        row("napari-dcpt", "single", "ring", "mild", 29.5, volume="v2"),  # mean +0.25: met
        row("input", "single", "blur", "severe", 30.0),
        row("napari-dcpt", "single", "blur", "severe", 29.9),
    ]
    run = {"date_utc": "d", "git_commit": "c", "modalities": ["CT"]}
    quality = {"models": {"CT": {"napari-dcpt": "w/ct.safetensors"}}, "rows": rows, "runs": [run]}
    (tmp_path / "quality.json").write_text(json.dumps(quality))
    classify = {
        "environment": {"date_utc": "d"},
        "results": {"CT": {"napari-dcpt": {"single_top1": 0.95}}},
    }
    (tmp_path / "classify.json").write_text(json.dumps(classify))


def test_shipped_bars_read_the_whole_volume_benchmarks(tmp_path):
    from training.model_card import shipped_bars

    _ct_benchmarks(tmp_path)

    text = "\n".join(shipped_bars(tmp_path, "ct"))

    assert "NOT met (blur/severe -0.100 dB) (2 type x severity cells)" in text
    assert "against itself: met (70.0 dB)" in text
    assert ">= 90 %: met (95 %" in text
    assert shipped_bars(tmp_path, "mr") == []  # no MR results: no section


def test_each_bar_is_dated_by_the_run_that_measured_its_modality(tmp_path):
    """A merged classify.json holds an older MR run and a newer CT one."""
    import json

    from training.model_card import shipped_quality

    _ct_benchmarks(tmp_path)
    classify = {
        "environment": {"date_utc": "2026-11-29 12:16 UTC"},
        "runs": [
            {"date_utc": "2026-11-28 15:44 UTC", "modalities": ["CT", "MR"]},
            {"date_utc": "2026-11-29 12:16 UTC", "modalities": ["CT"]},
        ],
        "results": {"CT": {"napari-dcpt": {"single_top1": 0.95}}},
    }
    (tmp_path / "classify.json").write_text(json.dumps(classify))
    assert shipped_quality(tmp_path, "ct")["classify_date"] == "2026-11-29 12:16 UTC"
    classify["runs"].pop()  # without the rerun, the older run is the one that measured CT
    (tmp_path / "classify.json").write_text(json.dumps(classify))
    assert shipped_quality(tmp_path, "ct")["classify_date"] == "2026-11-28 15:44 UTC"


def test_the_summary_sets_both_models_bars_side_by_side(tmp_path):
    import yaml

    from training.model_card import summary

    _ct_benchmarks(tmp_path)  # CT benchmarked, never trained here; MR trained, never benchmarked
    (tmp_path / "mr_ft").mkdir()
    (tmp_path / "mr_ft" / "config.yaml").write_text(yaml.safe_dump({"finetune": {"steps": 200}}))
    _jsonl(tmp_path / "mr_ft" / "metrics.jsonl", ((100, 29.0), (200, 29.5)))

    table = [line for line in summary(tmp_path, tmp_path) if line.startswith("| ")]
    rows = {r[0]: r[1:] for r in (line.strip("| ").split(" | ") for line in table[1:])}

    assert table[0] == "| bar | MR | CT |"
    assert rows["restored PSNR above the degraded input, every type x severity"] == [
        "?: no benchmark results",
        "NOT met: 1 of 2 cells above",
    ]
    assert rows["a clean input comes back at >= 40 dB PSNR"] == ["?: not measured", "met: 70.0 dB"]
    assert rows["mean top-1 accuracy on single degradations >= 90 %"][1] == "met: 95 %"
    assert rows["validation curve flat (< 0.1 dB over the last doubling of fine-tuning steps)"] == [
        "NOT met: +0.50 dB from step 100 to 200",
        "?: not measurable from the kept records",
    ]


def test_a_file_taken_part_way_through_a_run_counts_and_plots_the_run_only_to_there(
    tmp_path, monkeypatch
):
    import yaml

    from training import model_card
    from training.model_card import fine_tuning_curve, section

    stops = {"long3": 1000, "head": None}
    monkeypatch.setattr(model_card, "CHAIN", stops)
    monkeypatch.setattr(model_card, "CONTINUATIONS", ("long3",))
    data = {"root": "r", "patch_size": 64, "batch_size": 8}
    for run, cfg, rows in (
        ("mr_ft", {"data": data, "pretrain": {"steps": 100}}, ((500, 28.0), (1000, 28.5))),
        ("mr_long3", {}, ((500, 29.0), (1000, 29.2), (1500, 29.3))),
    ):
        (tmp_path / run).mkdir()
        steps = 1000 if run == "mr_ft" else 3000
        (tmp_path / run / "config.yaml").write_text(
            yaml.safe_dump({**cfg, "finetune": {"steps": steps}})
        )
        _jsonl(tmp_path / run / "metrics.jsonl", rows)

    curve = fine_tuning_curve(tmp_path, "mr")
    text = "\n".join(section(tmp_path, "mr", tmp_path))

    assert [m["step"] for m in curve] == [500, 1000, 1500, 2000]  # not 2500: after the file
    assert "`mr_long3`" in text and "1000 more steps (taken at that step of the run's 3000" in text
    stops["long3"] = None  # the run shipped whole
    assert [m["step"] for m in fine_tuning_curve(tmp_path, "mr")][-1] == 2500
    assert "3000 more steps," in "\n".join(section(tmp_path, "mr", tmp_path))


def test_the_ablation_taken_through_the_chain_is_compared_at_each_equal_budget(tmp_path):
    import json

    import pytest
    import yaml

    from training.model_card import _chain_budgets, ablation_budgets, section

    def run(name, cfg, restored):
        (tmp_path / name / "eval").mkdir(parents=True)
        (tmp_path / name / "config.yaml").write_text(yaml.safe_dump(cfg))
        rows = [
            {
                "condition": c,
                "severity": s,
                "psnr_degraded": 25.0,
                "psnr_restored": restored + (5.0 if c == "clean" else 0.0),
                "ssim_degraded": 0.8,
                "ssim_restored": 0.9,
                "acc_exact": 1.0,
            }
            for c, s in (("clean", None), ("noise", "mild"), ("noise", "severe"), ("mixed", None))
        ]
        (tmp_path / name / "eval" / "eval.json").write_text(
            json.dumps(
                {"vocabulary": ["clean", "noise"], "rows": rows, "confusion": [[4, 0], [0, 4]]}
            )
        )

    data = {"root": "r", "patch_size": 64, "batch_size": 8}
    first = {"data": data, "pretrain": {"steps": 100}, "finetune": {"steps": 200}}
    run("ct_ft", first, 30.0)
    run("ct_abl", first, 30.5)  # the ablation ahead at the first budget
    run("ct_floor", {"finetune": {"steps": 400}}, 32.0)
    run("ct_long", {"finetune": {"steps": 800}}, 33.0)
    out = tmp_path / "out"
    out.mkdir()
    text = "\n".join(section(tmp_path, "ct", out))
    assert "the ablation matches the first fine-tuning's budget only" in text
    assert "(same total steps, first fine-tuning before its continuation)" in text
    assert "difference over single-type rows -0.50 dB" in text

    run("ct_abl_floor", {"finetune": {"steps": 400}}, 31.0)  # part of the way
    (tmp_path / "ct_abl_floor" / "metrics.jsonl").write_text(
        json.dumps({"step": 400, "psnr_restored": 31.0, "psnr_degraded": 25.0}) + "\n"
    )
    assert [(b[0], b[2]) for b in ablation_budgets(tmp_path, "ct")] == [
        ("ct_ft", 300),
        ("ct_floor", 700),
    ]
    text = "\n".join(section(tmp_path, "ct", out))
    assert "up to `ct_floor` (700 steps) so far" in text
    assert "| `ct_floor` | `ct_abl_floor` | 700 | 32.00 | 31.00 | +1.00 | 2 of 2 |" in text
    assert "| `ct_ft` | `ct_abl` | 300 | 30.00 | 30.50 | -0.50 | 0 of 2 |" in text

    run("ct_abl_long", {"finetune": {"steps": 800}}, 32.75)  # the shipped file's budget
    text = "\n".join(section(tmp_path, "ct", out))
    assert "the same 1500 steps as the shipped file" in text
    assert (
        "The ablation column is the no-pre-training network at the same total steps (1500)." in text
    )
    assert (
        "(same total steps): mean restored PSNR difference over single-type rows +0.25 dB" in text
    )
    assert "| 33.00 | 32.75 | +0.25 |" in text  # the table's last row
    assert "| clean | - | 25.00 | 38.00 | 0.800 | 0.900 | 1.00 | - | 37.75 |" in text

    # a head refit of the shipped file: compared with the ablation's own refit once it has one
    run("ct_head", {"head": {"steps": 10}}, 33.0)
    text = "\n".join(section(tmp_path, "ct", out))
    assert "the ablation's is its own fine-tuned head (no refit)" in text
    assert "| clean | - | 25.00 | 38.00 | 0.800 | 0.900 | 1.00 | - | 37.75 |" in text
    run("ct_abl_head", {"head": {"steps": 10}}, 32.5)
    text = "\n".join(section(tmp_path, "ct", out))
    assert "Both classifiers are refit heads: the ablation had the same refits." in text
    assert "| clean | - | 25.00 | 38.00 | 0.800 | 0.900 | 1.00 | - | 37.50 |" in text
    assert "single-type rows +0.50 dB" in text

    # where each stage starts and ends in total steps (the curves plot the ablation there)
    assert _chain_budgets(tmp_path, "ct") == [
        ("ct_ft", "ct_abl", 0, 300),
        ("ct_floor", "ct_abl_floor", 300, 700),
        ("ct_long", "ct_abl_long", 700, 1500),
    ]
    (tmp_path / "ct_abl_long" / "config.yaml").write_text(
        yaml.safe_dump({"finetune": {"steps": 700}})
    )
    with pytest.raises(ValueError, match="ct_abl_long: 700 steps where ct_long ran 800"):
        ablation_budgets(tmp_path, "ct")


def test_ablation_budget_of_a_run_taken_part_way(tmp_path):
    """A stage the shipped file took part-way (`CHAIN`: long3 at 10500) counts to there on
    both sides, so the ablation run with the same config and ``--until`` pairs with it."""
    import yaml

    from training.model_card import _chain_budgets

    def config(name, cfg):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.yaml").write_text(yaml.safe_dump(cfg))

    config("mr_ft", {"pretrain": {"steps": 100}, "finetune": {"steps": 200}})
    config("mr_long3", {"finetune": {"steps": 34745}})
    config("mr_abl_long3", {"finetune": {"steps": 34745}})
    assert _chain_budgets(tmp_path, "mr") == [
        ("mr_ft", "mr_abl", 0, 300),
        ("mr_long3", "mr_abl_long3", 300, 10800),
    ]


def test_the_ablation_curves_name_the_validation_samples_they_share(tmp_path):
    """An ablation continuation validated on the samples of a later pre-trained run (its
    degraded input equal to the bit) is drawn on that set; one matching none gets its
    own degraded line."""
    import json

    import yaml

    from training.model_card import _ablation_series

    def record(name, cfg, degraded=None):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.yaml").write_text(yaml.safe_dump(cfg))
        if degraded is not None:
            points = [
                {"step": s, "psnr_restored": 30.0, "psnr_degraded": degraded} for s in (5, 10)
            ]
            (tmp_path / name / "metrics.jsonl").write_text("\n".join(json.dumps(p) for p in points))

    record("mr_ft", {"pretrain": {"steps": 100}, "finetune": {"steps": 200}})
    record("mr_cont", {"finetune": {"steps": 10}})
    record("mr_psnr", {"finetune": {"steps": 10}})
    record("mr_abl_cont", {"finetune": {"steps": 10}}, degraded=27.5)
    record("mr_abl_psnr", {"finetune": {"steps": 10}}, degraded=26.0)
    sets = {"mr_ft": (28.0, [(300, 400)]), "mr_long3": (27.5, [(500, 600)])}

    series = _ablation_series(tmp_path, "mr", sets)

    assert [(twin, label, before) for twin, label, _, before in series] == [
        ("mr_cont", "ablation continued (mr_abl_cont, mr_long3's samples)", 300),
        ("mr_psnr", "ablation continued (mr_abl_psnr, mr_abl_psnr's samples)", 310),
    ]
    assert sets["mr_long3"] == (27.5, [(500, 600), (305, 310)])
    assert sets["mr_abl_psnr"] == (26.0, [(315, 320)])


def test_single_differences_pair_rows_by_condition_and_severity():
    """Rows are paired by (condition, severity), not by position, and evaluations with
    different single-type rows are refused rather than compared."""
    import pytest

    from training.model_card import _single_differences

    def ev(*rows):
        return {"rows": [{"condition": c, "severity": s, "psnr_restored": p} for c, s, p in rows]}

    a = ev(("clean", None, 50.0), ("noise", "mild", 31.0), ("blur", "mild", 28.0))
    b = ev(("blur", "mild", 28.5), ("noise", "mild", 30.0), ("mixed", None, 20.0))
    assert _single_differences(a, b) == [1.0, -0.5]
    with pytest.raises(ValueError, match="unpaired single-type rows.*'gibbs'"):
        _single_differences(a, ev(("noise", "mild", 30.0), ("gibbs", "mild", 28.0)))


def test_the_foreign_simulator_results_are_quoted_when_measured(tmp_path):
    import json

    from training.model_card import foreign

    assert foreign(tmp_path) == []  # not run: no section
    result = {
        "runs": [{"date_utc": "2026-11-29 20:00 UTC", "modalities": ["MR", "CT"]}],
        "totals": ["- MR napari-dcpt: 10 cases; gain as shipped +0.50 dB"],
    }
    (tmp_path / "foreign.json").write_text(json.dumps(result))
    lines = foreign(tmp_path)
    assert lines[0] == "## On degradations made by other code"
    assert "(2026-11-29 20:00 UTC)" in lines[2]
    assert "- MR napari-dcpt: 10 cases; gain as shipped +0.50 dB" in lines

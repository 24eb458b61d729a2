"""benchmarks.classification: merging one modality's rerun into an existing result."""

from benchmarks.classification import merge


def _result(mods, command, runtime, tag):
    run = {
        "command": command,
        "date_utc": "d",
        "machine": "m",
        "modalities": mods,
        "runtime_s": runtime,
    }
    return {
        "environment": {k: run[k] for k in ("command", "date_utc", "machine")},
        "models": {m: {"napari-dcpt": f"{m}-{tag}"} for m in mods},
        "results": {m: {"napari-dcpt": {"single_top1": tag}} for m in mods},
        "rows": [{"modality": m, "tag": tag} for m in mods],
        "runtime_s": runtime,
        "runs": [run],
    }


def test_merge_keeps_the_other_modality_and_lists_both_runs():
    old = _result(["MR", "CT"], "classify", 100.0, "old")
    new = _result(["CT"], "classify --modality CT --merge", 30.0, "new")
    out = merge(old, new)
    assert out["models"] == {"MR": {"napari-dcpt": "MR-old"}, "CT": {"napari-dcpt": "CT-new"}}
    assert out["results"]["MR"]["napari-dcpt"]["single_top1"] == "old"
    assert out["results"]["CT"]["napari-dcpt"]["single_top1"] == "new"
    assert sorted((r["modality"], r["tag"]) for r in out["rows"]) == [
        ("CT", "new"),
        ("MR", "old"),
    ]
    # the old run still measured MR, so it stays listed beside the new one
    assert [(r["command"], r["modalities"]) for r in out["runs"]] == [
        ("classify", ["MR"]),
        ("classify --modality CT --merge", ["CT"]),
    ]
    assert out["runtime_s"] == 130.0
    # a rerun of every modality replaces the old run entirely
    again = merge(out, _result(["MR", "CT"], "classify", 90.0, "newer"))
    assert [r["command"] for r in again["runs"]] == ["classify"]
    assert {r["tag"] for r in again["rows"]} == {"newer"}


def test_merge_reads_a_file_written_before_runs_were_recorded():
    old = _result(["MR", "CT"], "classify --threads 2", 451.0, "old")
    del old["runs"]
    out = merge(old, _result(["CT"], "classify --modality CT", 20.0, "new"))
    assert out["runs"][0]["command"] == "classify --threads 2"
    assert out["runs"][0]["modalities"] == ["MR"]  # its CT rows were replaced
    assert out["runtime_s"] == 471.0

"""The `napari-dcpt` command line, driven through `main()` (same code as the console script)."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from napari_dcpt import io
from napari_dcpt.cli import EXIT_ERROR, EXIT_OK, EXIT_PARTIAL, EXIT_PIPE, EXIT_USAGE, main
from napari_dcpt.volume import Volume


@pytest.fixture
def mr_file(tmp_path, phantom):
    rng = np.random.default_rng(5)
    arr = (rng.random((4, 40, 44)) * 400).astype(np.int16)
    return io.write(Volume(arr, phantom.affine, modality="MR"), tmp_path / "in" / "a.nii.gz")


def test_info(mr_file, capsys):
    assert main(["info", str(mr_file)]) == EXIT_OK
    out = capsys.readouterr().out
    assert "MR 4 x 40 x 44 voxels" in out and "origin" in out


@pytest.mark.parametrize("unbuffered", ["", "1"])
def test_a_closed_output_pipe_ends_quietly(mr_file, unbuffered):
    # Arrange: a pipe whose reader has gone (as `napari-dcpt info x | head -1` leaves it)
    # before the command writes, so its output meets EPIPE every time: on the first
    # print when unbuffered, on the flush at the end when buffered (a pipe's default)
    read_end, write_end = os.pipe()
    os.close(read_end)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    if unbuffered:
        env["PYTHONUNBUFFERED"] = unbuffered
    # Act: a real process, as the interpreter's own final flush must not raise either
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "napari_dcpt.cli", "info", str(mr_file)],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=300,
            env=env,
        )
    finally:
        os.close(write_end)
    # Assert
    assert proc.returncode == EXIT_PIPE
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr


def test_demo_restores_both_samples_with_labelled_comparisons(tmp_path, capsys):
    from PIL import Image

    from napari_dcpt.samples import sample_paths

    # Act: the README's main job, on the bundled samples and shipped models
    code = main(["-q", "demo", str(tmp_path / "out")])
    # Assert
    assert code == EXIT_OK
    out = capsys.readouterr().out
    assert "MR: rician noise" in out and "CT: low dose" in out
    for modality, src in sample_paths().items():
        stem = tmp_path / "out" / f"{modality.lower()}_sample"
        before, after = io.read(src), io.read(f"{stem}_restored.nii.gz")
        assert after.shape == before.shape and after.array.dtype == before.array.dtype
        np.testing.assert_allclose(after.affine, before.affine, atol=1e-5)
        assert not np.array_equal(after.array, before.array)
        png = np.asarray(Image.open(f"{stem}_before_after.png"))
        band = png.shape[0] - before.shape[1]  # the label band above the three panels
        assert png.shape[1] == 3 * before.shape[2] + 8 and 14 <= band <= 40
        assert (png[:band] > 128).sum() > 200  # the labels and the report are drawn


def test_help_lists_the_exit_codes(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert stop.value.code == 0
    for code in ("0 success", "1 error", "2 usage", "3 `batch`", "130 interrupted", "141"):
        assert code in out


def test_missing_input_is_one_line_exit_1(tmp_path, capsys):
    assert main(["info", str(tmp_path / "nope.nii.gz")]) == EXIT_ERROR
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "nope.nii.gz: no such file" in err


def test_restore_keeps_geometry_and_writes_report(tmp_path, mr_file, tiny_weights):
    out = tmp_path / "out" / "r.nrrd"
    rep = tmp_path / "out" / "r.json"
    code = main(
        [
            "-q",
            "restore",
            str(mr_file),
            str(out),
            "--weights",
            str(tiny_weights),
            "--device",
            "cpu",
            "--report",
            str(rep),
        ]
    )
    assert code == EXIT_OK
    a, b = io.read(mr_file), io.read(out)
    assert b.shape == a.shape and b.array.dtype == a.array.dtype
    np.testing.assert_allclose(b.affine, a.affine, atol=1e-5)
    report = json.loads(rep.read_text())
    assert report["modality"] == "MR" and "findings" in report
    assert report["strength"] == pytest.approx(1 - report["clean_probability"], abs=1e-3)


def test_full_strength_applies_all_of_the_change(tmp_path, mr_file, tiny_weights):
    common = ["-q", "restore", str(mr_file)]
    model = ["--weights", str(tiny_weights), "--device", "cpu", "--report"]
    outs = {}
    for name, extra in (("scaled", []), ("full", ["--full-strength"])):
        out, rep = tmp_path / f"{name}.nii.gz", tmp_path / f"{name}.json"
        assert main([*common, str(out), *model, str(rep), *extra]) == EXIT_OK
        outs[name] = (io.read(out).array.astype(np.float32), json.loads(rep.read_text()))
    x = io.read(mr_file).array.astype(np.float32)
    assert outs["full"][1]["strength"] == 1.0
    s = outs["scaled"][1]["strength"]
    assert 0 < s < 1
    # the scaled change is s times the full one (up to the integer output's rounding)
    np.testing.assert_allclose(outs["scaled"][0] - x, s * (outs["full"][0] - x), atol=1.0)


def test_restore_refuses_existing_output_before_work(tmp_path, mr_file, tiny_weights, capsys):
    out = tmp_path / "exists.nii.gz"
    out.write_bytes(b"keep me")
    code = main(["-q", "restore", str(mr_file), str(out), "--weights", str(tiny_weights)])
    assert code == EXIT_ERROR and out.read_bytes() == b"keep me"
    assert "exists" in capsys.readouterr().err


def test_classify_json(mr_file, tiny_weights, capsys):
    assert main(["-q", "classify", str(mr_file), "--weights", str(tiny_weights), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {f["type"] for f in report["findings"]} == {"rician_noise", "blur"}


def test_classify_names_what_a_calibrated_model_does_not_correct(
    tmp_path, mr_file, tiny_weights, capsys
):
    from napari_dcpt.models.weights import rewrite_extra

    table = {
        "gain": {"blur": [0.0, 0.0, 0.0], "rician_noise": [1.0, 1.0, 1.0]},
        "recall": {"blur": [0.0, 0.0, 0.0], "rician_noise": [1.0, 1.0, 1.0]},
        "removed": {"blur": [0.0, 0.0, 0.0], "rician_noise": [0.8, 0.8, 0.8]},
    }
    w = rewrite_extra(tiny_weights, tmp_path / "cal.safetensors", {"restore_gain": table})
    assert main(["-q", "classify", str(mr_file), "--weights", str(w)]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    note = "(not corrected by this model; named in 0% of unseen test cases)"
    assert rows["blur"].endswith(f"gain 0.00  removes 0% {note}")
    assert rows["rician_noise"].endswith("gain 1.00  removes 80%")
    assert main(["-q", "classify", str(mr_file), "--weights", str(w), "--json"]) == 0
    found = {f["type"]: f for f in json.loads(capsys.readouterr().out)["findings"]}
    assert found["blur"]["gain"] == 0.0 and found["rician_noise"]["gain"] == 1.0
    assert found["blur"]["recall"] == 0.0 and found["rician_noise"]["recall"] == 1.0
    assert found["rician_noise"]["removed"] == pytest.approx(0.8)


def test_degrade_writes_same_geometry_and_record(tmp_path, mr_file):
    out, rec = tmp_path / "d.nii.gz", tmp_path / "d.json"
    code = main(
        [
            "-q",
            "degrade",
            str(mr_file),
            str(out),
            "--type",
            "rician_noise",
            "--severity",
            "severe",
            "--seed",
            "3",
            "--record",
            str(rec),
        ]
    )
    assert code == EXIT_OK
    a, b = io.read(mr_file), io.read(out)
    np.testing.assert_allclose(b.affine, a.affine, atol=1e-5)
    assert not np.array_equal(a.array, b.array)
    assert json.loads(rec.read_text())["types"] == ["rician_noise"]


def test_degrade_rejects_unknown_type(tmp_path, mr_file, capsys):
    code = main(["-q", "degrade", str(mr_file), str(tmp_path / "x.nii.gz"), "--type", "nope"])
    assert code == EXIT_ERROR
    assert "nope" in capsys.readouterr().err


def test_batch_goes_past_a_bad_file_and_resumes(tmp_path, mr_file, tiny_weights):
    root = mr_file.parent
    sub = root / "sub"
    sub.mkdir()
    io.write(io.read(mr_file), sub / "b.nii.gz")
    (root / "broken.nii.gz").write_bytes(b"not an image" * 10)
    out = tmp_path / "restored"
    args = ["-q", "batch", str(root), str(out), "--weights", str(tiny_weights), "--device", "cpu"]
    assert main(args) == EXIT_PARTIAL
    assert (out / "a.nii.gz").is_file() and (out / "sub" / "b.nii.gz").is_file()
    rows = (out / "report.csv").read_text().splitlines()
    assert rows[0] == "input,output,status,seconds,detected,unreliable,strength,error"
    assert sum(",restored," in r for r in rows) == 2
    assert sum(",failed," in r and "broken.nii.gz" in r for r in rows) == 1
    mtime = (out / "a.nii.gz").stat().st_mtime_ns
    assert main([*args, "--resume"]) == EXIT_PARTIAL  # the broken file still fails
    assert (out / "a.nii.gz").stat().st_mtime_ns == mtime  # no work done twice
    rows = (out / "report.csv").read_text().splitlines()
    assert sum(",skipped," in r for r in rows) == 2


def test_batch_report_names_the_detected_types_the_model_rarely_detects():
    from napari_dcpt.cli import _report_columns
    from napari_dcpt.inference.report import DegradationReport, Finding

    found = (
        Finding("motion", 0.7, "mild", recall=0.2),  # named, but rarely right
        Finding("rician_noise", 0.9, "mild", recall=1.0),
        Finding("ghosting", 0.3, "mild", recall=0.0),  # not named: not listed
    )
    cols = _report_columns(DegradationReport("MR", found, 0.05))
    assert cols == {"detected": "motion;rician_noise", "unreliable": "motion"}
    assert _report_columns(DegradationReport("MR", found[2:], 0.9)) == {
        "detected": "clean",
        "unreliable": "",
    }
    # nothing named, but clean below the threshold too: not written down as clean
    assert _report_columns(DegradationReport("MR", found[2:], 0.3))["detected"] == "unclear"


@pytest.mark.parametrize("weights", [False, True])
def test_batch_skips_a_series_whose_header_names_another_modality(
    tmp_path, mr_file, tiny_weights, weights, monkeypatch
):
    monkeypatch.syspath_prepend(str(Path(__file__).parent / "io"))  # the DICOM phantom
    from dicom_phantom import write_series

    # Arrange: a chest radiograph series (MR-like intensities) beside an MR file; with
    # or without a weights file, whose MR modality must not be applied to the radiograph
    root = mr_file.parent
    arr = np.random.default_rng(3).integers(0, 900, (3, 40, 44)).astype(np.int16)
    write_series(root / "cr", arr, np.diag([2.0, 0.5, 0.5, 1.0]), modality="CR")
    extra = ["--weights", str(tiny_weights)] if weights else []
    # Act
    code = main(["-q", "batch", str(root), str(tmp_path / "out"), *extra])
    # Assert: nothing failed; the radiograph is skipped with its reason, the MR restored
    assert code == EXIT_OK
    with open(tmp_path / "out" / "report.csv") as fh:
        rows = {Path(r["input"].split("#")[0]).name: r for r in csv.DictReader(fh)}
    assert rows["a.nii.gz"]["status"] == "restored"
    assert rows["cr"]["status"] == "skipped"
    assert "the DICOM header says modality CR" in rows["cr"]["error"]
    assert rows["cr"]["output"] == ""  # nothing was written for it
    assert not list((tmp_path / "out").glob("cr/*"))


def test_batch_shards_are_disjoint_and_complete(tmp_path, mr_file, tiny_weights):
    root = mr_file.parent
    for i in range(3):
        io.write(io.read(mr_file), root / f"c{i}.nii.gz")
    outs = []
    for k in (1, 2):
        out = tmp_path / f"o{k}"
        assert (
            main(
                [
                    "-q",
                    "batch",
                    str(root),
                    str(out),
                    "--weights",
                    str(tiny_weights),
                    "--shard",
                    f"{k}/2",
                ]
            )
            == EXIT_OK
        )
        outs.append({p.name for p in out.glob("*.nii.gz")})
    assert outs[0].isdisjoint(outs[1])
    assert outs[0] | outs[1] == {"a.nii.gz", "c0.nii.gz", "c1.nii.gz", "c2.nii.gz"}


def test_empty_folder(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["-q", "batch", str(tmp_path / "empty"), str(tmp_path / "o")]) == EXIT_ERROR
    assert "no readable images" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # no output folder left behind


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (("restore", "IN", "OUT", "--tile", "3"), "argument --tile: must be 32..2048, got 3"),
        (
            ("restore", "IN", "OUT", "--batch-size", "0"),
            "argument --batch-size: must be 1..64, got 0",
        ),
        (("batch", "IN", "OUT", "--threads", "-1"), "argument --threads: must be 1..256, got -1"),
        (("classify", "IN", "--slices", "0"), "argument --slices: must be 1..256, got 0"),
        (("restore", "IN", "OUT", "--tile", "big"), "argument --tile: not a whole number: 'big'"),
    ],
)
def test_out_of_range_options_are_usage_errors_before_any_work(
    tmp_path, mr_file, capsys, monkeypatch, args, problem
):
    # Arrange: the engine must not be reached
    from napari_dcpt import inference

    def no_work(*_a, **_k):
        raise AssertionError("the engine ran with an out-of-range option")

    monkeypatch.setattr(inference, "restore", no_work)
    monkeypatch.setattr(inference, "classify_steps", no_work)
    paths = {"IN": str(mr_file), "OUT": str(tmp_path / "o.nii.gz")}
    # Act
    with pytest.raises(SystemExit) as info:
        main([paths.get(a, a) for a in args])
    # Assert: argparse's usage line, then one line naming the option
    err = capsys.readouterr().err.strip().splitlines()
    assert info.value.code == EXIT_USAGE and err[-1].endswith(problem), err
    assert not (tmp_path / "o.nii.gz").exists()


def test_a_blank_series_is_a_one_line_error(tmp_path, phantom, tiny_weights, capsys):
    blank = io.write(
        Volume(np.zeros((4, 40, 44), np.int16), phantom.affine, modality="MR"), tmp_path / "z.nii"
    )
    out = tmp_path / "o.nii.gz"
    code = main(["-q", "restore", str(blank), str(out), "--weights", str(tiny_weights)])
    err = capsys.readouterr().err.strip()
    assert code == EXIT_ERROR and err.count("\n") == 0, err
    assert "z.nii: every voxel is 0: a constant image has nothing to restore" in err
    assert not out.exists()


def test_a_dicom_output_for_a_nifti_input_is_refused_before_work(
    tmp_path, mr_file, tiny_weights, capsys, monkeypatch
):
    # Arrange: an output name with no image suffix is a DICOM folder
    from napari_dcpt import inference

    def no_work(*_a, **_k):
        raise AssertionError("restoration started before the output format was checked")

    monkeypatch.setattr(inference, "restore", no_work)
    out = tmp_path / "restored.xyz"
    # Act
    code = main(["-q", "restore", str(mr_file), str(out), "--weights", str(tiny_weights)])
    # Assert
    err = capsys.readouterr().err.strip()
    assert code == EXIT_ERROR and err.count("\n") == 0, err
    assert "restored.xyz: without a .nii" in err and "name a .nii.gz file instead" in err
    assert not out.exists()


def test_warnings_are_one_line_without_source_code(mr_file, capsys, monkeypatch):
    # Arrange: a reader that warns, as the DICOM reader does on uneven slice spacing
    import warnings

    real_read = io.read

    def read(*args, **kwargs):
        warnings.warn("a.nii.gz: non-uniform slice spacing\n(largest 0.6 mm)", stacklevel=2)
        return real_read(*args, **kwargs)

    monkeypatch.setattr(io, "read", read)
    # Act
    code = main(["info", str(mr_file)])
    # Assert
    err = capsys.readouterr().err
    assert code == EXIT_OK
    assert err == "warning: a.nii.gz: non-uniform slice spacing (largest 0.6 mm)\n"


def test_batch_names_the_unreadable_file_of_a_dicom_folder(tmp_path, capsys):
    # Arrange: the only input is a DICOM folder with one file that cannot be parsed
    from pydicom.data import get_testdata_file

    src = tmp_path / "in" / "series"
    src.mkdir(parents=True)
    raw = Path(get_testdata_file("CT_small.dcm")).read_bytes()
    (src / "a.dcm").write_bytes(raw)
    (src / "b.dcm").write_bytes(raw[:132] + b"\x08\x00\x05\x00CS\xff\xff" + raw[140:200])
    # Act
    code = main(["-q", "batch", str(tmp_path / "in"), str(tmp_path / "o")])
    # Assert: one line naming the folder and the file, nothing left behind
    err = capsys.readouterr().err.strip()
    assert code == EXIT_ERROR and err.count("\n") == 0, err
    assert f"{src}: no readable images: b.dcm: not a readable DICOM file" in err
    assert not (tmp_path / "o").exists()


def test_quiet_is_taken_before_or_after_the_command():
    from napari_dcpt.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["restore", "a.nii", "b.nii", "--quiet"]).quiet
    assert parser.parse_args(["-q", "restore", "a.nii", "b.nii"]).quiet  # not reset by restore
    assert not parser.parse_args(["restore", "a.nii", "b.nii"]).quiet

"""Patient data never leaks: logs, stdout/stderr, reports, layer metadata, exceptions and
invented file names hold no identifier; ``--anonymize`` applies the DICOM Basic Profile."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest

from napari_dcpt import io
from napari_dcpt.errors import DcptError

sys.path.insert(0, str(Path(__file__).parent))
from reliability_helpers import PHI_STRINGS, plant_phi  # noqa: E402


def _leaks(text: str) -> list[str]:
    return [s for s in PHI_STRINGS if s.lower() in text.lower()]


def _tree_text(root: Path) -> str:
    """Every file name and every text file's content under ``root`` (reports, JSON)."""
    parts = []
    for p in sorted(root.rglob("*")):
        parts.append(str(p.relative_to(root)))
        if p.is_file() and p.suffix in (".csv", ".json", ".txt", ".log"):
            parts.append(p.read_text(errors="replace"))
    return "\n".join(parts)


def test_cli_outputs_logs_reports_and_names_hold_no_patient_data(
    phi_series, tiny_weights, tmp_path, cli, caplog
):
    # Arrange
    caplog.set_level(logging.DEBUG)
    out = tmp_path / "out"
    texts = []

    # Act: every command that reads the series, incl. its reports
    for args in (
        ("info", phi_series),
        ("classify", phi_series, "--weights", tiny_weights, "--json"),
        ("classify", phi_series, "--weights", tiny_weights),
        (
            "restore",
            phi_series,
            out / "r.nii.gz",
            "--weights",
            tiny_weights,
            "--report",
            out / "r.json",
        ),
        ("restore", phi_series, out / "dcm", "--weights", tiny_weights),
        ("batch", phi_series.parent, out / "batch", "--weights", tiny_weights, "--json"),
    ):
        code, stdout, stderr = cli(*args)
        assert code == 0, stderr
        texts += [stdout, stderr]
    texts += [r.getMessage() for r in caplog.records]
    texts.append(_tree_text(out))

    # Assert
    assert _leaks("\n".join(texts)) == []
    assert len(list((out / "batch").rglob("*.dcm"))) == 6  # batch wrote the series


def test_errors_about_a_phi_series_do_not_quote_it(phi_series, tmp_path, cli, caplog, recwarn):
    # Arrange: a value of the wrong VR holding patient data (pydicom's own warning and
    # error text would quote it), and truncated pixel data in another slice
    files = sorted(phi_series.glob("*.dcm"))
    ds = pydicom.dcmread(files[0])
    ds.ImagePositionPatient = ["1111111.", "2222222.", "3"]
    ds.save_as(files[0], enforce_file_format=True)
    raw = files[0].read_bytes()
    assert b"1111111.\\2222222." in raw
    files[0].write_bytes(raw.replace(b"1111111.\\2222222.", b"Doe^Jane\\PID12345"))
    files[1].write_bytes(files[1].read_bytes()[:-500])
    caplog.set_level(logging.DEBUG)

    # Act
    code, stdout, stderr = cli("restore", phi_series, tmp_path / "x.nii.gz")
    with pytest.raises(DcptError) as err:
        io.read(phi_series)

    # Assert
    assert code == 1 and stderr.count("\n") == 1
    logged = [r.getMessage() for r in caplog.records] + [str(w.message) for w in recwarn]
    assert _leaks("\n".join([stderr, stdout, str(err.value), *logged])) == []


def test_napari_layer_metadata_holds_no_patient_data(phi_series):
    # Arrange
    from napari_dcpt.plugin._layers import volume_to_layer_data

    vol = io.read(phi_series)

    # Act
    _, kwargs, _ = volume_to_layer_data(vol)

    # Assert
    assert _leaks(repr(kwargs)) == []


def test_derived_series_keeps_patient_module_without_anonymize(phi_series, tmp_path):
    # Arrange
    vol = io.read(phi_series)

    # Act
    io.write(vol, tmp_path / "derived")

    # Assert: a derived series belongs to its source's patient and study
    ds = pydicom.dcmread(sorted((tmp_path / "derived").glob("*.dcm"))[0])
    src = pydicom.dcmread(sorted(phi_series.glob("*.dcm"))[0])
    assert ds.PatientName == "Doe^Jane" and ds.StudyInstanceUID == src.StudyInstanceUID
    assert "PatientIdentityRemoved" not in ds


def test_anonymize_applies_the_basic_profile_consistently(phi_series, tmp_path):
    # Arrange
    vol = io.read(phi_series)
    src = [pydicom.dcmread(p) for p in sorted(phi_series.glob("*.dcm"))]
    src_uids = {
        str(v)
        for ds in src
        for v in (
            ds.StudyInstanceUID,
            ds.SeriesInstanceUID,
            ds.FrameOfReferenceUID,
            ds.SOPInstanceUID,
        )
    }

    # Act
    io.write(vol, tmp_path / "anon", anonymize=True)

    # Assert
    files = sorted((tmp_path / "anon").glob("*.dcm"))
    out = [pydicom.dcmread(p) for p in files]
    raw = b"".join(p.read_bytes() for p in files)
    assert [s for s in PHI_STRINGS if s.encode() in raw] == []
    assert not any(u.encode() in raw for u in src_uids)  # no source UID survives
    for ds in out:
        assert ds.PatientIdentityRemoved == "YES"
        assert "Basic" in ds.DeidentificationMethod
        assert ds.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
        assert ds.DeidentificationMethodCodeSequence[0].CodingSchemeDesignator == "DCM"
        assert ds.PatientName == "" and ds.PatientID == "" and ds.PatientBirthDate == ""
        for kw in (
            "InstitutionName",
            "OperatorsName",
            "DeviceSerialNumber",
            "StudyDate",
            "OtherPatientIDs",
            "StationName",
            "StudyDescription",
        ):
            assert kw not in ds
        assert not any(e.tag.is_private for e in ds)
    # one study / frame of reference for the whole series, UIDs new but consistent
    assert len({ds.StudyInstanceUID for ds in out}) == 1
    assert len({ds.FrameOfReferenceUID for ds in out}) == 1
    assert len({ds.SOPInstanceUID for ds in out}) == len(out)
    refs = {ds.SourceImageSequence[0].ReferencedSOPInstanceUID for ds in out}
    assert len(refs) == len(out) and not refs & src_uids
    # the pixels and geometry are untouched by de-identification
    back = io.read(tmp_path / "anon")
    np.testing.assert_array_equal(back.array, vol.array)
    np.testing.assert_allclose(back.affine, vol.affine, atol=1e-4)


def test_cli_anonymize_for_restore_and_batch(phi_series, tiny_weights, tmp_path, cli):
    # Act
    r = cli("restore", phi_series, tmp_path / "r", "--weights", tiny_weights, "--anonymize")
    b = cli("batch", phi_series.parent, tmp_path / "b", "--weights", tiny_weights, "--anonymize")

    # Assert
    assert r[0] == 0 and b[0] == 0
    for folder in (tmp_path / "r", tmp_path / "b"):
        files = sorted(folder.rglob("*.dcm"))
        assert len(files) == 6
        raw = b"".join(p.read_bytes() for p in files)
        assert [s for s in PHI_STRINGS if s.encode() in raw] == []
        assert all(pydicom.dcmread(p).PatientIdentityRemoved == "YES" for p in files)


def test_batch_names_built_from_headers_cannot_escape_the_output_folder(
    phi_series, tiny_weights, tmp_path, cli
):
    # Arrange: header text that would be a path if names were built from it
    files = sorted(phi_series.glob("*.dcm"))
    plant_phi(files, SeriesDescription="../../etc", ProtocolName="../../../../tmp/x")
    out = tmp_path / "out"

    # Act
    code, _, stderr = cli("batch", phi_series.parent, out, "--weights", tiny_weights)

    # Assert: everything written lies under the output folder, named by a UID hash
    assert code == 0, stderr
    written = [p for p in tmp_path.rglob("*") if p.is_file() and out not in p.parents]
    inputs = set(phi_series.parent.rglob("*"))
    assert [p for p in written if p not in inputs] == []
    assert all(p.parent.name.startswith("series-") for p in out.rglob("*.dcm"))


def test_batch_output_refuses_names_outside_the_output_folder(tmp_path):
    # Arrange: an item whose relative location climbs out (a symlinked input tree)
    from napari_dcpt.cli import _batch_output
    from napari_dcpt.io import InputItem

    root, out_dir = tmp_path / "in", tmp_path / "out"
    (root / "a").mkdir(parents=True)
    item = InputItem(root / "a" / ".." / ".." / ".." / "evil.nii.gz")

    # Act / Assert
    with pytest.raises(DcptError, match="leave the output folder"):
        _batch_output(item, root, out_dir)


def test_restore_report_json_holds_only_paths_and_findings(phi_series, tiny_weights, tmp_path, cli):
    # Act
    code, _, err = cli(
        "restore",
        phi_series,
        tmp_path / "o.nii.gz",
        "--weights",
        tiny_weights,
        "--report",
        tmp_path / "rep.json",
    )

    # Assert
    assert code == 0, err
    report = json.loads((tmp_path / "rep.json").read_text())
    assert _leaks(json.dumps(report)) == []

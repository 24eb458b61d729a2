"""Faults in unattended jobs: a batch killed with SIGKILL resumes to complete outputs and no
temporary files; a full disk gives one clear line and no half-written output; an output
folder that cannot be written is reported before any work starts."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from napari_dcpt import io
from napari_dcpt.io.geometry import affine_from_parts
from napari_dcpt.volume import Volume

AFF = affine_from_parts((0.0, 0.0, 0.0), (2.0, 1.0, 1.0), np.eye(3))


def _partials(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if ".partial-" in p.name]


def _inputs(folder: Path, n: int, shape: tuple[int, int, int]) -> list[Path]:
    rng = np.random.default_rng(5)
    return [
        io.write(
            Volume(rng.integers(0, 500, size=shape).astype(np.int16), AFF, modality="MR"),
            folder / f"sub{i % 2}" / f"case{i}.nii.gz",
        )
        for i in range(n)
    ]


def _batch_cmd(src: Path, out: Path, weights: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "napari_dcpt.cli",
        "--quiet",
        "batch",
        str(src),
        str(out),
        "--weights",
        str(weights),
        "--threads",
        "1",
        *extra,
    ]


def test_sigkill_during_batch_then_resume_completes_every_output(tiny_weights, tmp_path):
    # Arrange: six inputs, slow enough that the job is still running at the first output
    src, out = tmp_path / "in", tmp_path / "out"
    inputs = _inputs(src, 6, (24, 96, 96))
    proc = subprocess.Popen(
        _batch_cmd(src, out, tiny_weights), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if any(out.rglob("case*.nii.gz")):
            break
        time.sleep(0.02)

    # Act 1: SIGKILL -- no clean-up handler can run
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    done_before = sorted(p.name for p in out.rglob("case*.nii.gz"))
    # what a kill in the middle of a write leaves: a temporary sibling of an output
    stale = out / "sub1" / f".case5.partial-{uuid.uuid4().hex[:8]}.nii.gz"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"\x1f\x8b half a gzip stream")
    foreign = out / f".notours.partial-{uuid.uuid4().hex[:8]}.nii.gz"  # another job's
    foreign.write_bytes(b"x")

    # Act 2: resume
    res = subprocess.run(
        _batch_cmd(src, out, tiny_weights, "--resume"), capture_output=True, text=True, timeout=300
    )

    # Assert
    assert proc.returncode == -signal.SIGKILL
    assert 1 <= len(done_before) < len(inputs), "the kill should land mid-job"
    assert res.returncode == 0, res.stderr
    for p in inputs:
        o = out / p.relative_to(src)
        assert io.read(o).shape == (24, 96, 96)
    assert _partials(out) == [foreign]  # ours cleaned, another job's left alone
    report = (out / "report.csv").read_text()
    assert report.count("skipped") == len(done_before)
    assert report.count("restored") == len(inputs) - len(done_before)


@pytest.fixture
def tiny_disk(tmp_path):
    """A 1 MiB tmpfs (needs root and mount permission; skipped otherwise)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True
    )
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (not root / no CAP_SYS_ADMIN)")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_full_disk_gives_one_line_and_no_partial_output(tiny_disk, tmp_path, cli, tiny_weights):
    # Arrange: 2.4 MB of uncompressed voxels for a 1 MiB disk
    big = Volume(np.ones((30, 200, 200), np.int16), AFF, modality="MR")
    src = io.write(big, tmp_path / "big.nii.gz")
    # Act
    with pytest.raises(io.WriteError) as info:
        io.write(big, tiny_disk / "o.nii")
    code, _, err = cli("degrade", src, tiny_disk / "d.nii", "--type", "rician_noise")
    # Assert
    assert str(tiny_disk / "o.nii") in str(info.value) and "No space left" in str(info.value)
    assert code == 1 and err.count("\n") == 1 and "No space left" in err
    assert list(tiny_disk.iterdir()) == []  # nothing half-written, no temporary file


def test_full_disk_during_batch_fails_each_file_cleanly(tiny_disk, tmp_path, tiny_weights):
    # Arrange: two inputs; the disk holds the report but no output
    src = tmp_path / "in"
    _inputs(src, 2, (24, 200, 200))  # ~1.2 MB compressed each
    # Act
    res = subprocess.run(
        _batch_cmd(src, tiny_disk / "out", tiny_weights) + ["--tile", "64"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    # Assert: exit 3 (some failed), one error line per file, no partial output
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert res.returncode == 3, res.stderr
    assert len(errors) == 2 and all("No space left" in e for e in errors)
    assert _partials(tiny_disk) == []
    assert list(tiny_disk.rglob("case*")) == []


def test_enospc_at_rename_leaves_no_output_and_no_temp(tmp_path, monkeypatch, phantom):
    # Without a tmpfs: the final rename fails as on a full disk
    import napari_dcpt.io.atomic as atomic

    def full(*_a, **_k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic.os, "replace", full)
    with pytest.raises(io.WriteError, match="No space left"):
        io.write(phantom, tmp_path / "o.nii.gz")
    assert list(tmp_path.iterdir()) == []


def test_unwritable_output_is_reported_before_any_work(tmp_path, cli, monkeypatch, tiny_weights):
    # Tests run as root, and chmod does not stop root: a *file* where the output folder
    # should be is a location nobody can write into; os.access is patched for the
    # read-only case, which is what the CLI checks. Restoration must never start.
    import napari_dcpt.inference as inference

    def no_work(*_a, **_k):
        raise AssertionError("restoration started before the output was checked")

    monkeypatch.setattr(inference, "restore", no_work)
    src = io.write(
        Volume(np.ones((4, 24, 20), np.int16), AFF, modality="MR"), tmp_path / "in" / "a.nii.gz"
    )
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    for args in (("restore", src, blocker / "o.nii.gz"), ("batch", src.parent, blocker / "out")):
        code, _, err = cli(*args, "--weights", tiny_weights)
        assert code == 1 and err.count("\n") == 1 and str(blocker) in err, err
    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda p, m, *a, **k: False if m & os.W_OK else real_access(p, m)
    )
    for args in (
        ("restore", src, tmp_path / "ro" / "o.nii.gz"),
        ("batch", src.parent, tmp_path / "ro2"),
    ):
        code, _, err = cli(*args, "--weights", tiny_weights)
        assert code == 1 and "not writable" in err and err.count("\n") == 1, err

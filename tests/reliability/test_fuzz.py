"""Property-based fuzzing of `napari_dcpt.io.read` with mutated real files: byte flips,
truncations and header-field mutations; only the project's own errors may escape.

CI budget: ``NAPARI_DCPT_FUZZ_EXAMPLES`` examples per target (default 150, ~25 s in all);
set it higher by hand for a long run. Counts are printed at the end of each test
(``pytest -s``) and recorded in docs/reliability.md.
"""

from __future__ import annotations

import os
import struct
import tempfile
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom.data
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from napari_dcpt import io
from napari_dcpt.errors import DcptError

EXAMPLES = int(os.environ.get("NAPARI_DCPT_FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
    database=None,
)
DICOM_SEEDS = ("CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm", "rtdose.dcm", "MR_small_RLE.dcm")
# NIfTI-1 header fields worth lying about: (offset, struct format)
NIFTI_FIELDS = [
    (0, "<i"),
    (40, "<8h"),
    (70, "<h"),
    (72, "<h"),
    (76, "<8f"),
    (108, "<f"),
    (112, "<f"),
    (116, "<f"),
    (252, "<h"),
    (254, "<h"),
    (280, "<12f"),
]


def _seed_bytes() -> dict[str, bytes]:
    out = {}
    for name in DICOM_SEEDS:
        p = pydicom.data.get_testdata_file(name)  # the singular call: the plural one hangs
        if p is not None:
            out[name] = Path(p).read_bytes()
    rng = np.random.default_rng(0)
    arr = rng.integers(-100, 900, size=(6, 7, 5)).astype(np.int16)
    with tempfile.TemporaryDirectory() as d:
        for name in ("seed.nii", "seed.nii.gz"):
            nib.save(nib.Nifti1Image(arr, np.diag([0.9, 0.8, 2.5, 1.0])), str(Path(d) / name))
            out[name] = (Path(d) / name).read_bytes()
    return out


SEEDS = _seed_bytes()
COUNTS = {"tried": 0, "loaded": 0, "refused": 0}


def _mutate(data: bytes, ops: list[tuple[str, int, int]]) -> bytes:
    buf = bytearray(data)
    for op, pos, val in ops:
        if not buf:
            break
        i = pos % len(buf)
        if op == "flip":
            buf[i] ^= 1 << (val % 8)
        elif op == "byte":
            buf[i] = val % 256
        elif op == "truncate":
            del buf[i:]
        elif op == "insert":
            buf[i:i] = bytes([val % 256]) * (1 + val % 7)
        elif op == "delete":
            del buf[i : i + 1 + val % 16]
    return bytes(buf)


def _check(name: str, data: bytes) -> None:
    """The property: a Volume, or a one-line DcptError naming the file."""
    COUNTS["tried"] += 1
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / name
        path.write_bytes(data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                vol = io.read(path)
            except DcptError as exc:
                COUNTS["refused"] += 1
                assert "\n" not in str(exc)
                return
        COUNTS["loaded"] += 1
        assert vol.array.size > 0 and all(s > 0 for s in vol.spacing)


OPS = st.lists(
    st.tuples(
        st.sampled_from(["flip", "byte", "truncate", "insert", "delete"]),
        st.integers(0, 2**20),
        st.integers(0, 2**16),
    ),
    min_size=1,
    max_size=6,
)
# Mutations concentrated in the header, where parsers decide what to allocate.
HEADER_OPS = st.lists(
    st.tuples(st.sampled_from(["flip", "byte"]), st.integers(0, 1023), st.integers(0, 255)),
    min_size=1,
    max_size=8,
)


@FUZZ
@given(name=st.sampled_from(sorted(n for n in SEEDS if n.endswith(".dcm"))), ops=OPS)
def test_fuzz_dicom_bytes(name, ops):
    _check(name, _mutate(SEEDS[name], ops))


@FUZZ
@given(name=st.sampled_from(sorted(n for n in SEEDS if n.endswith(".dcm"))), ops=HEADER_OPS)
def test_fuzz_dicom_header(name, ops):
    _check(name, _mutate(SEEDS[name], ops))


@FUZZ
@given(
    gz=st.booleans(),
    fields=st.lists(
        st.tuples(
            st.sampled_from(range(len(NIFTI_FIELDS))),
            st.integers(0, 16),
            st.one_of(
                st.integers(-(2**15), 2**15 - 1),
                st.floats(allow_nan=True, allow_infinity=True, width=32),
            ),
        ),
        min_size=1,
        max_size=4,
    ),
    ops=st.lists(
        st.tuples(
            st.sampled_from(["flip", "truncate"]), st.integers(0, 2**12), st.integers(0, 255)
        ),
        max_size=2,
    ),
)
def test_fuzz_nifti_header_fields(gz, fields, ops):
    import gzip

    buf = bytearray(SEEDS["seed.nii"])
    for idx, item, value in fields:
        off, fmt = NIFTI_FIELDS[idx]
        n = struct.calcsize(fmt) // struct.calcsize("<" + fmt[-1])
        k = item % n
        size = struct.calcsize("<" + fmt[-1])
        try:
            packed = struct.pack("<" + fmt[-1], value if fmt[-1] == "f" else int(value))
        except (struct.error, OverflowError, ValueError):
            continue
        buf[off + k * size : off + (k + 1) * size] = packed
    data = _mutate(bytes(buf), ops)
    _check("f.nii.gz" if gz else "f.nii", gzip.compress(data) if gz else data)


@pytest.fixture(scope="module", autouse=True)
def _report_counts():
    yield
    print(
        f"\nfuzz: {COUNTS['tried']} inputs, {COUNTS['loaded']} loaded, "
        f"{COUNTS['refused']} refused with DcptError, 0 other exceptions"
    )

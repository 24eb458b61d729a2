"""Test helpers for tests/reliability: planted patient data and where it must never appear."""

from __future__ import annotations

import sys
from pathlib import Path

import pydicom

sys.path.insert(0, str(Path(__file__).parents[1] / "io"))  # the dicom_phantom helper
from dicom_phantom import write_series  # noqa: E402,F401

#: Patient-identifying values planted in the synthetic series; none may ever leak.
PHI = {
    "PatientName": "Doe^Jane",
    "PatientID": "PID12345",
    "PatientBirthDate": "19610704",
    "AccessionNumber": "ACC998877",
    "InstitutionName": "St Elsewhere Hospital",
    "InstitutionAddress": "1 Secret Road",
    "ReferringPhysicianName": "House^Gregory",
    "OperatorsName": "Tech^Tina",
    "PerformingPhysicianName": "Grey^Meredith",
    "StudyID": "STUDY4711",
    "DeviceSerialNumber": "SN-31337",
    "StationName": "CTSTATION9",
    "StudyDescription": "Brain for Doe",
    "OtherPatientIDs": "OTHER-PID-55",
}
#: The strings a test searches for in every output the tool makes.
PHI_STRINGS = (
    "Doe^Jane",
    "Doe",
    "Jane",
    "PID12345",
    "19610704",
    "ACC998877",
    "Elsewhere",
    "Secret Road",
    "House",
    "Tech^Tina",
    "Meredith",
    "STUDY4711",
    "SN-31337",
    "CTSTATION9",
    "OTHER-PID-55",
)


def plant_phi(paths: list[Path], **extra: str) -> None:
    """Rewrite each DICOM file with the `PHI` values (and ``extra``) plus a private tag."""
    for p in paths:
        ds = pydicom.dcmread(p)
        for k, v in {**PHI, **extra}.items():
            setattr(ds, k, v)
        block = ds.private_block(0x0011, "ACME 1.0", create=True)
        block.add_new(0x01, "LO", "Doe^Jane private copy")
        ds.save_as(p, enforce_file_format=True)

"""De-identifying a DICOM header by the PS3.15 Annex E Basic Application Level Confidentiality Profile.

Written by hand: pydicom has no de-identification profile and the ``deid``/``dicognito``
packages are not dependencies. The action table below is the Basic Profile's, restricted
to the attributes a CT/MR image (and its derived series) carries; in addition every
person name (VR PN) anywhere in the header, every private element and every overlay is
removed, as the profile requires.
"""

from __future__ import annotations

from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

__all__ = ["BASIC_PROFILE", "DEIDENTIFICATION_METHOD", "deidentify"]

DEIDENTIFICATION_METHOD = "PS3.15 Annex E Basic Profile (napari-dcpt)"

#: Basic Profile actions, keyword -> action: "X" remove, "Z" empty value (type 2 in the
#: image IODs), "U" replace the UID by a new one, mapped consistently within one call.
BASIC_PROFILE: dict[str, str] = {
    # Patient module and patient study module
    "PatientName": "Z",
    "PatientID": "Z",
    "PatientBirthDate": "Z",
    "PatientSex": "Z",
    "PatientBirthTime": "X",
    "PatientAge": "X",
    "PatientSize": "X",
    "PatientWeight": "X",
    "PatientAddress": "X",
    "PatientTelephoneNumbers": "X",
    "PatientMotherBirthName": "X",
    "PatientBirthName": "X",
    "PatientComments": "X",
    "PatientReligiousPreference": "X",
    "PatientInsurancePlanCodeSequence": "X",
    "PatientState": "X",
    "PregnancyStatus": "X",
    "SmokingStatus": "X",
    "MedicalAlerts": "X",
    "Allergies": "X",
    "AdditionalPatientHistory": "X",
    "EthnicGroup": "X",
    "Occupation": "X",
    "MilitaryRank": "X",
    "BranchOfService": "X",
    "CountryOfResidence": "X",
    "RegionOfResidence": "X",
    "OtherPatientIDs": "X",
    "OtherPatientIDsSequence": "X",
    "OtherPatientNames": "X",
    "IssuerOfPatientID": "X",
    "MedicalRecordLocator": "X",
    "ResponsiblePerson": "X",
    "ResponsibleOrganization": "X",
    "ReferencedPatientSequence": "X",
    "AdmissionID": "X",
    "AdmittingDiagnosesDescription": "X",
    # Study, series, equipment and acquisition
    "AccessionNumber": "Z",
    "StudyID": "Z",
    "StudyDate": "Z",
    "StudyTime": "Z",
    "ContentDate": "Z",
    "ContentTime": "Z",
    "SeriesDate": "X",
    "SeriesTime": "X",
    "AcquisitionDate": "X",
    "AcquisitionTime": "X",
    "AcquisitionDateTime": "X",
    "InstanceCreationDate": "X",
    "InstanceCreationTime": "X",
    "OverlayDate": "X",
    "OverlayTime": "X",
    "CurveDate": "X",
    "CurveTime": "X",
    "TimezoneOffsetFromUTC": "X",
    "ReferringPhysicianName": "Z",
    "ReferringPhysicianAddress": "X",
    "ReferringPhysicianTelephoneNumbers": "X",
    "ReferringPhysicianIdentificationSequence": "X",
    "PhysiciansOfRecord": "X",
    "PhysiciansOfRecordIdentificationSequence": "X",
    "PerformingPhysicianName": "X",
    "PerformingPhysicianIdentificationSequence": "X",
    "NameOfPhysiciansReadingStudy": "X",
    "PhysiciansReadingStudyIdentificationSequence": "X",
    "RequestingPhysician": "X",
    "OperatorsName": "X",
    "OperatorIdentificationSequence": "X",
    "InstitutionName": "X",
    "InstitutionAddress": "X",
    "InstitutionalDepartmentName": "X",
    "InstitutionCodeSequence": "X",
    "StationName": "X",
    "DeviceSerialNumber": "X",
    "DeviceUID": "U",
    "PlateID": "X",
    "DetectorID": "X",
    "GantryID": "X",
    "ProtocolName": "X",
    "StudyDescription": "X",
    "SeriesDescription": "X",
    "ImageComments": "X",
    "FrameComments": "X",
    "DerivationDescription": "X",
    "RequestAttributesSequence": "X",
    "RequestedProcedureDescription": "X",
    "RequestedProcedureID": "X",
    "ScheduledProcedureStepID": "X",
    "PerformedProcedureStepID": "X",
    "PerformedProcedureStepDescription": "X",
    "PerformedProcedureStepStartDate": "X",
    "PerformedProcedureStepStartTime": "X",
    "PerformedProcedureStepEndDate": "X",
    "PerformedProcedureStepEndTime": "X",
    "ReferencedStudySequence": "X",
    "ReferencedPerformedProcedureStepSequence": "X",
    "ProcedureCodeSequence": "X",
    "PlacerOrderNumberImagingServiceRequest": "X",
    "FillerOrderNumberImagingServiceRequest": "X",
    "ContrastBolusAgent": "X",
    "CommentsOnThePerformedProcedureStep": "X",
    "TextComments": "X",
    "ReasonForStudy": "X",
    "RequestedContrastAgent": "X",
    "InterpretationText": "X",
    # Identifying UIDs (new values, consistent within one series)
    "StudyInstanceUID": "U",
    "SeriesInstanceUID": "U",
    "SOPInstanceUID": "U",
    "FrameOfReferenceUID": "U",
    "SynchronizationFrameOfReferenceUID": "U",
    "ReferencedSOPInstanceUID": "U",
    "ReferencedFrameOfReferenceUID": "U",
    "InstanceCreatorUID": "U",
    "IrradiationEventUID": "U",
    "ConcatenationUID": "U",
    "DimensionOrganizationUID": "U",
    "StorageMediaFileSetUID": "U",
    "MediaStorageSOPInstanceUID": "U",
    "UID": "U",
}


def _walk(ds: Dataset, uid_map: dict[str, str]) -> None:
    for elem in list(ds):
        group = elem.tag.group
        if elem.tag.is_private or 0x5000 <= group <= 0x50FF or 0x6000 <= group <= 0x60FF:
            del ds[elem.tag]  # private, overlay and curve data may hold anything
            continue
        action = BASIC_PROFILE.get(elem.keyword)
        if action == "X" or (action is None and elem.VR == "PN"):
            del ds[elem.tag]
        elif action == "Z":
            elem.value = "" if elem.VR != "SQ" else []
        elif action == "U" and elem.value:
            if elem.VM > 1:
                elem.value = [uid_map.setdefault(str(v), generate_uid()) for v in elem.value]
            else:
                elem.value = uid_map.setdefault(str(elem.value), generate_uid())
        elif elem.VR == "SQ":
            for item in elem.value:
                _walk(item, uid_map)


def deidentify(ds: Dataset, uid_map: dict[str, str]) -> Dataset:
    """Apply the Basic Profile to ``ds`` in place and mark it de-identified.

    Parameters
    ----------
    ds
        One header (top level; nested sequences are processed too).
    uid_map
        Old UID -> new UID, shared by every slice of a series so that its Study,
        Frame of Reference and referenced instances stay consistent; a new run maps
        to new UIDs, so outputs cannot be linked back to the source.

    Returns
    -------
    Dataset
        ``ds``, with PatientIdentityRemoved YES, DeidentificationMethod and the
        DeidentificationMethodCodeSequence (DCM 113100, Basic Profile) set.
    """
    _walk(ds, uid_map)
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = DEIDENTIFICATION_METHOD
    code = Dataset()
    code.CodeValue = "113100"
    code.CodingSchemeDesignator = "DCM"
    code.CodeMeaning = "Basic Application Confidentiality Profile"
    ds.DeidentificationMethodCodeSequence = [code]
    ds.LongitudinalTemporalInformationModified = "REMOVED"
    return ds

def write_nifti(path, data, meta):
    return []


def write_dicom(path, data, meta):
    return []

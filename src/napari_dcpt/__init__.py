"""napari-dcpt: all-in-one restoration of MRI and CT volumes with DCPT pre-training.

Importing the package stays light (no torch, no monai, no napari): the napari
plugin manifest is read at viewer start-up, and heavy libraries load on first use.
"""

from napari_dcpt.errors import DcptError
from napari_dcpt.volume import Volume

__version__ = "0.1.0"
__all__ = ["DcptError", "Volume", "__version__"]

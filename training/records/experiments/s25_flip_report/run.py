import sys
import napari_dcpt.inference.engine as e
e.CLASSIFY_VIEWS = int(sys.argv[1])
from benchmarks.classification import main
main(["--out", sys.argv[2], "--threads", "2"])

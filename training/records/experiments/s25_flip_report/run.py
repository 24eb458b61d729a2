"""`python -m benchmarks classify` with each crop averaged over N views (needs views.patch).

Usage: ``PYTHONPATH=. python run.py N OUT_DIR`` (N = 1 or 8).
"""

import sys

import napari_dcpt.inference.engine as engine
from benchmarks.classification import main

if __name__ == "__main__":
    engine.CLASSIFY_VIEWS = int(sys.argv[1])  # read by classify_steps at call time
    main(["--out", sys.argv[2], "--threads", "2"])

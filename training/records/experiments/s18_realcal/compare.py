"""Session 18's comparison script, kept so the records' commands still run.

It became ``python -m benchmarks compare`` (benchmarks/compare.py) in session 20; the
rows are the same, and the summary line now ends with the worst single case.

    PYTHONPATH=. python training/records/experiments/s18_realcal/compare.py A.safetensors B...
"""

import sys

from benchmarks.compare import main

if __name__ == "__main__":
    main(sys.argv[1:])

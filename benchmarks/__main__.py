"""Command line: ``python -m benchmarks quality|speed|classify|foreign|compare|tune|docs [--help]``."""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "quality": "benchmarks.quality",
    "speed": "benchmarks.speed",
    "classify": "benchmarks.classification",
    "compare": "benchmarks.compare",
    "tune": "benchmarks.tune",
    "foreign": "benchmarks.foreign",
    "docs": "benchmarks.report",
}


def main(argv: list[str] | None = None) -> None:
    """Dispatch to the sub-command's ``main(argv)``."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        print(__doc__.strip())
        print("commands: " + ", ".join(COMMANDS))
        raise SystemExit(2)
    importlib.import_module(COMMANDS[argv[0]]).main(argv[1:])


if __name__ == "__main__":
    main()

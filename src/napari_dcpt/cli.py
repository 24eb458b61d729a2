"""The `napari-dcpt` command line (placeholder until the commands land)."""

import sys


def main(argv: list[str] | None = None) -> int:
    print("napari-dcpt: no commands yet", file=sys.stderr)
    return 2

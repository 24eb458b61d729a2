"""Refusing, before any voxel is read, an image too large for the memory this machine has free."""

from __future__ import annotations

import os
from pathlib import Path

from napari_dcpt.errors import ReadError

__all__ = ["available_memory", "check_fits_in_memory"]

#: Share of the available memory one image may take: reading, rescaling and the
#: float32 copy the restoration makes need a few times the array itself.
MEMORY_FRACTION = 0.5


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation, or None if it cannot be known.

    ``MemAvailable`` from /proc/meminfo (counts reclaimable page cache, as the kernel's
    own OOM estimate does), else ``psutil`` if installed, else free pages from
    ``os.sysconf``. ``NAPARI_DCPT_MAX_MEMORY`` (bytes) caps it, e.g. under a job
    scheduler whose limit the kernel does not report.
    """
    avail: int | None = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        avail = None
    if avail is None:
        try:
            import psutil  # type: ignore[import-not-found]

            avail = int(psutil.virtual_memory().available)
        except Exception:  # not installed or unsupported platform
            try:
                avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
            except (ValueError, OSError, AttributeError):
                avail = None
    cap = os.environ.get("NAPARI_DCPT_MAX_MEMORY")
    if cap:
        try:
            avail = int(cap) if avail is None else min(avail, int(cap))
        except ValueError:
            pass  # a malformed cap is ignored rather than blocking every read
    return avail


def check_fits_in_memory(nbytes: int, path: str | os.PathLike[str] | Path) -> None:
    """Raise `ReadError` if an array of ``nbytes`` (as declared by a header) cannot fit.

    Called with the size a header *declares*, before reading, so that a huge or lying
    header is refused with one line instead of the process being killed by the OS.
    """
    avail = available_memory()
    if avail is None:
        return
    if nbytes > MEMORY_FRACTION * avail:
        raise ReadError(
            f"image needs {nbytes / 2**30:.2f} GiB but only {avail / 2**30:.2f} GiB of "
            "memory is available (refused before reading)",
            path,
        )

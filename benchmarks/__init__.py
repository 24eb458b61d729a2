"""Benchmarks of napari-dcpt against the methods users would pick instead (issue #7).

``python -m benchmarks quality|speed|classify|tune [options]``; results go to
``benchmarks/results/`` and are summarised in ``docs/benchmarks.md``.
"""

"""The generator of the synthetic demo city pack in ``data/demo``: a development tool, not shipped.

Run from the project root: ``python -m data.generator [--out DIR]``.
"""

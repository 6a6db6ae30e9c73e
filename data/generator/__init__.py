"""The generator of the synthetic demo city pack in ``data/demo`` (江城市, a fictional city).

A development tool, not part of the installed package. Run from the project root:
``python -m data.generator [--out DIR]``. The output is deterministic: every random draw comes
from ``numpy.random.default_rng`` with fixed seeds (one stream per layer), nothing depends on set
iteration order or the clock, and two runs give byte-identical files.

The city is made up -- names, admin codes, phone numbers and reporters are all fictional. It is
placed near 114.15 E 30.55 N only so that GCJ-02 and the CGCS2000 Gauss-Kruger zone EPSG:4547
apply. Geometry is designed in EPSG:4547 metres (in a local frame centred on the city). Shared
boundaries and street crossings are then noded by snap-rounding on the 1e-7 degree WGS84 lattice
that the GeoJSON coordinates are rounded to, so polygons still tile exactly and streets still meet
at shared vertices after rounding. The generator checks its own output before it finishes.

Modules: ``frames`` (local metres and the lattice), ``plan`` (names, outline, river, density),
``topology`` (lattice segments and rings, connected components), ``cells`` (grid cell geometry),
``grid`` (subdistricts, communities, codes), ``roads`` (road design), ``streets`` (the noded
street layer), ``stations``, ``tips``, ``write`` (the files), ``check`` (the self-check) and
``__main__`` (the command line).
"""

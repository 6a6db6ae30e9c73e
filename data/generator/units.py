"""The units table: who handles the tips of each category in each subdistrict (处置单位).

Each district's departments (城管执法局, 住建局, the traffic police brigade) serve their own
district's subdistricts by code; the city's departments (市政设施, 园林绿化) serve every
subdistrict (``*``); each subdistrict office (街道办事处) takes the 其他事件 of its own
subdistrict. The river-beach office (江滩管理办公室) takes the green spaces of the two old-town
subdistricts on the river: named subdistricts beat ``*``, so it comes before the parks department
there. Every category of the default table has a unit in every subdistrict.
"""

from __future__ import annotations

from data.generator.grid import Subdistrict

CITY = "江城市"
RIVER_BEACH = ("鼓楼街道", "滨江街道")  # the old town's river front


def build_units(subdistricts: list[Subdistrict]) -> list[dict[str, str]]:
    """The rows of ``units.csv``: ``unit_id``, ``name``, ``categories``, ``subdistricts``."""
    districts: dict[str, list[str]] = {}
    for s in subdistricts:
        districts.setdefault(s.district, []).append(s.code)
    rows: list[tuple[str, str, list[str]]] = []
    for prefix, categories in (
        ("城市管理执法局", "01;02;05"),
        ("住房和城乡建设局", "03"),
    ):
        rows += [(f"{d}{prefix}", categories, codes) for d, codes in districts.items()]
    rows += [(f"{CITY}公安局交通管理局{d}大队", "12", codes) for d, codes in districts.items()]
    rows.append((f"{CITY}市政设施管理处", "04;11", ["*"]))
    rows.append((f"{CITY}园林绿化局", "13", ["*"]))
    beach = [s.code for s in subdistricts if s.name in RIVER_BEACH]
    assert len(beach) == len(RIVER_BEACH)
    rows.append((f"{CITY}江滩管理办公室", "13", beach))
    rows += [(f"{s.name}办事处", "06", [s.code]) for s in subdistricts]
    return [
        {"unit_id": f"U{n:02d}", "name": name, "categories": cats, "subdistricts": ";".join(subs)}
        for n, (name, cats, subs) in enumerate(rows, start=1)
    ]

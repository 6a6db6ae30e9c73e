"""The pack's tables of units and deadlines: shipped defaults, a pack's own, what validation
refuses (each problem naming the file and the row), and routing a case to a unit."""

import pandas as pd
import pytest
from conftest import SUB_A, SUB_B, write_pack

from geo.errors import InvalidLayer
from geo.pack import read_pack
from geo.sla import SlaTable
from geo.units import route_unit

UNITS = "unit_id,name,categories,subdistricts\n"
SLA = "step,category,urgency,minutes\n"
DEFAULT_ROWS = "".join(
    f"{step},*,{urgency},{minutes}\n"
    for step in ("register", "dispatch", "handle", "verify")
    for urgency, minutes in (("normal", 60), ("urgent", 20))
)


def pack_with(tmp_path, **tables: str):
    folder = write_pack(tmp_path / "p")
    for name, text in tables.items():
        (folder / f"{name}.csv").write_text(text, encoding="utf-8")
    return folder


def problems_of(folder):
    with pytest.raises(InvalidLayer) as info:
        read_pack(folder)
    return info.value.problems


def test_shipped_defaults(pack_dir):
    pack = read_pack(pack_dir)
    assert pack.units.to_dict(orient="records") == [
        {
            "unit_id": "U00",
            "name": "城市管理综合执法大队",
            "categories": ("*",),
            "subdistricts": ("*",),
        }
    ]
    sla = pack.sla.set_index(["step", "category", "urgency"])["minutes"]
    assert sla["handle", "*", "normal"] == 900 and sla["handle", "04", "urgent"] == 60
    assert sla["register", "*", "urgent"] == 10 and sla["verify", "*", "normal"] == 60
    assert pack.sla["minutes"].dtype == "int64"
    assert "4 stations, 8 grid cells, 2 subdistricts, 2 streets, 0 tips, 1 units" in pack.summary()


def test_a_packs_own_tables_replace_the_defaults(tmp_path):
    units = UNITS + f"A,东湖街道办事处, 01 ; 11 ,{SUB_A}\nB,城管,*,{SUB_A};{SUB_B}\n"
    sla = SLA + DEFAULT_ROWS + "Handle,11,URGENT,45\n"
    pack = read_pack(pack_with(tmp_path, units=units, sla=sla))
    assert list(pack.units["unit_id"]) == ["A", "B"]
    assert pack.units["categories"][0] == ("01", "11")
    assert pack.units["subdistricts"][1] == (SUB_A, SUB_B)
    table = SlaTable(pack.sla)
    assert table.limit(step="handle", category="11", urgency="urgent") == (45, "11")
    assert table.limit(step="handle", category="11", urgency="normal") == (60, "*")


def test_unit_problems_name_file_row_and_id(tmp_path):
    units = (
        UNITS
        + f"U1,城管,01;99,{SUB_A}\n"  # unknown category
        + "U2,住建,03,420100009\n"  # unknown subdistrict
        + "U1,交警,12,*\n"  # duplicate id
        + ",园林,13,*\n"  # no id
        + "U5,,*,*\n"  # no name
        + f"U6,市政,*;11,{SUB_B}\n"  # * with codes
        + "U7,供电,,*\n"  # no categories
    )
    problems = problems_of(pack_with(tmp_path, units=units))
    assert problems == [
        "units.csv row 4: unit_id is empty",
        "units.csv row 3: duplicate unit_id 'U1' (first at row 1)",
        "units.csv row 1 (unit_id U1): unknown category code(s) '99'; known: 01, 02, 03, 04, "
        "05, 06, 11, 12, 13",
        "units.csv row 2 (unit_id U2): unknown subdistrict code(s) '420100009'; known: "
        f"{SUB_A}, {SUB_B}",
        "units.csv row 5 (unit_id U5): name is empty",
        "units.csv row 6 (unit_id U6): categories: * means all and stands alone",
        "units.csv row 7 (unit_id U7): categories is empty (codes separated by ;, or * for all)",
    ]


def test_units_need_a_row_and_their_columns(tmp_path):
    assert problems_of(pack_with(tmp_path, units=UNITS)) == [
        "units.csv: no units; give at least one row, e.g. U00,城市管理综合执法大队,*,*"
    ]
    folder = pack_with(tmp_path / "b", units="unit_id,name,categories\nU1,城管,*\n")
    assert problems_of(folder) == ["units.csv: missing column(s) subdistricts"]


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ("handle,04,normal,0", "minutes '0' is not a whole number from 1 to 527040 (a year)"),
        ("handle,04,normal,-5", "minutes '-5' is not a whole number from 1 to 527040 (a year)"),
        ("handle,04,normal,1.5", "minutes '1.5' is not a whole number from 1 to 527040 (a year)"),
        ("handle,04,normal,", "minutes '' is not a whole number from 1 to 527040 (a year)"),
        (
            "handle,04,normal,527041",
            "minutes '527041' is not a whole number from 1 to 527040 (a year)",
        ),
        ("close,04,normal,30", "step 'close' is not one of register, dispatch, handle, verify"),
        ("handle,04,soon,30", "urgency 'soon' is not one of normal, urgent"),
        (
            "handle,99,normal,30",
            "unknown category '99'; known: 01, 02, 03, 04, 05, 06, 11, 12, 13 or *",
        ),
        (
            "handle,*,urgent,30",
            "duplicate limit for step handle, category *, urgency urgent (first at row 6)",
        ),
    ],
)
def test_sla_problems_name_file_and_row(tmp_path, row, problem):
    folder = pack_with(tmp_path, sla=SLA + DEFAULT_ROWS + row + "\n")
    assert problems_of(folder) == [f"sla.csv row 9: {problem}"]


def test_every_step_and_urgency_needs_a_star_row(tmp_path):
    rows = DEFAULT_ROWS.replace("verify,*,urgent,20\n", "verify,04,urgent,20\n")
    assert problems_of(pack_with(tmp_path, sla=SLA + rows)) == [
        "sla.csv: no * row for step verify, urgency urgent: every category needs a limit "
        "(add verify,*,urgent,<minutes>)"
    ]


# -- routing ---------------------------------------------------------------------------------


def units_table(*rows: tuple[str, str, str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "unit_id": [r[0] for r in rows],
            "categories": [tuple(r[1].split(";")) for r in rows],
            "subdistricts": [tuple(r[2].split(";")) for r in rows],
        }
    )


ROUTED = units_table(
    ("all", "*", "*"),
    ("city_11", "11", "*"),
    ("a_all", "*", SUB_A),
    ("a_11", "11;12", SUB_A),
    ("a_11_too", "11", f"{SUB_A};{SUB_B}"),
)


@pytest.mark.parametrize(
    ("category", "subdistrict", "unit"),
    [
        ("11", SUB_A, "a_11"),  # both named; a_11_too ties and comes later
        ("12", SUB_A, "a_11"),
        ("11", SUB_B, "a_11_too"),  # both named
        ("01", SUB_A, "a_all"),  # the subdistrict named beats the category named
        ("13", SUB_B, "all"),
        ("11", None, None),  # a tip outside every subdistrict
    ],
)
def test_route_prefers_the_most_specific_unit(category, subdistrict, unit):
    assert route_unit(ROUTED, category=category, subdistrict_code=subdistrict) == unit


def test_subdistrict_specificity_comes_before_category():
    units = units_table(("city_11", "11", "*"), ("a_all", "*", SUB_A))
    assert route_unit(units, category="11", subdistrict_code=SUB_A) == "a_all"
    assert route_unit(units, category="11", subdistrict_code=SUB_B) == "city_11"


def test_no_unit_serves_the_case():
    units = units_table(("a_11", "11", SUB_A))
    assert route_unit(units, category="12", subdistrict_code=SUB_A) is None
    assert route_unit(units, category="11", subdistrict_code=SUB_B) is None
    assert route_unit(units_table(), category="11", subdistrict_code=SUB_A) is None

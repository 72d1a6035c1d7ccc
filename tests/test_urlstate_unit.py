"""One unit codec for the receptive-field page and the inspector: every link either page wrote still reads."""
import pytest

from cnnviz.pages.inspector import InspectorState
from cnnviz.pages.receptive_field import ReceptiveFieldState
from cnnviz.urlstate import UnitCodec


def _codec(cls, name):
    return next(field.codec for field in cls.FIELDS if field.name == name)


def test_both_pages_use_the_one_unit_codec():
    assert type(_codec(ReceptiveFieldState, "unit")) is UnitCodec
    assert type(_codec(InspectorState, "unit")) is UnitCodec


@pytest.mark.parametrize("text, unit", [("3,4", (3, 4)), ("0,0", (0, 0)), ("", None), ("7", (7, 7))])
def test_parse_reads_both_old_forms(text, unit):
    assert UnitCodec(1023).parse(text) == unit


@pytest.mark.parametrize("unit, text", [((3, 4), "3,4"), ((7, 7), "7,7"), (None, "")])
def test_format_writes_row_comma_col(unit, text):
    assert UnitCodec(1023).format(unit) == text
    assert UnitCodec(1023).parse(text) == unit


@pytest.mark.parametrize("text", ["1,2,3", "a,b", "1024,0", "-1,0", " 1,2", "1,"])
def test_parse_refuses_what_is_not_a_unit(text):
    with pytest.raises(ValueError):
        UnitCodec(1023).parse(text)


def test_check_and_plain():
    codec = UnitCodec(4095)
    assert codec.check(None) is None and codec.check([2, 3]) == (2, 3) and codec.coerce("5,6") == (5, 6)
    assert codec.plain((2, 3)) == [2, 3] and codec.plain(None) is None
    with pytest.raises(ValueError, match="pair"):
        codec.check((1, 2, 3))
    with pytest.raises(ValueError):
        codec.check((4096, 0))


def test_the_receptive_field_page_s_old_links_still_read():
    assert ReceptiveFieldState.from_query({"preset": "vgg16", "unit": "3,3"})[0].unit == (3, 3)
    assert ReceptiveFieldState.from_query({"preset": "vgg16", "unit": "3"})[0].unit == (3, 3)  # one number: both
    state = ReceptiveFieldState.from_query({"preset": "vgg16", "unit": "4095,0"})[0]
    assert state.unit == (4095, 0) and state.to_query() == {"preset": "vgg16", "unit": "4095,0"}
    assert ReceptiveFieldState.from_query({"unit": "4096,0"}) == (ReceptiveFieldState(), ["unit=4096,0"])


def test_the_inspector_s_old_links_still_read():
    assert InspectorState.from_query({"u": "3,4"}) == (InspectorState(unit=(3, 4)), [])
    assert InspectorState.from_query({"u": ""}) == (InspectorState(unit=None), [])
    assert InspectorState(unit=(3, 4)).to_query() == {"u": "3,4"}
    assert InspectorState.from_query({"u": "1024,0"}) == (InspectorState(), ["u=1024,0"])

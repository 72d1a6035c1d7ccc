"""Geometry and Pooling configs: validation and dict round-trips."""
import json

import pytest

from cnnviz.geometry import Geometry, Pooling


@pytest.mark.parametrize(
    "geometry",
    [
        Geometry(),
        Geometry(padding="same", padding_mode="reflect", stride=(2, 1), dilation=(1, 3), flip=True),
        Geometry(padding=(2, 0), padding_mode="circular", stride=3, dilation=2),
    ],
)
def test_geometry_round_trips_through_json(geometry):
    assert Geometry.from_dict(json.loads(json.dumps(geometry.to_dict()))) == geometry


def test_ints_become_pairs():
    geometry = Geometry(padding=1, stride=2, dilation=3)
    assert (geometry.padding, geometry.stride, geometry.dilation) == ((1, 1), (2, 2), (3, 3))


def test_conv_kwargs_match_ops_signature():
    assert Geometry(padding="same", stride=2).conv_kwargs() == {
        "stride": (2, 2), "padding": "same", "dilation": (1, 1), "padding_mode": "zeros", "flip": False,
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"padding": "full"}, "padding='full'"),
        ({"padding": (-1, 0)}, r"padding=\(-1, 0\)"),
        ({"stride": 0}, r"stride=\(0, 0\)"),
        ({"dilation": (1, 0)}, r"dilation=\(1, 0\)"),
        ({"padding_mode": "mirror"}, "padding_mode='mirror'"),
        ({"stride": 1.5}, "stride=1.5"),
    ],
)
def test_bad_geometry_names_the_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Geometry(**kwargs)


def test_pooling_round_trip_and_errors():
    pooling = Pooling(kind="max", size=(3, 2), stride=(1, 2))
    assert Pooling.from_dict(json.loads(json.dumps(pooling.to_dict()))) == pooling
    with pytest.raises(ValueError, match="kind='median'"):
        Pooling(kind="median")
    with pytest.raises(ValueError, match=r"size=\(0, 0\)"):
        Pooling(kind="avg", size=0)

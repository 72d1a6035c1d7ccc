"""Step-by-step numbers: every step's total equals cnnviz.conv.ops, and the arithmetic is written out right."""
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cnnviz.conv import ops
from cnnviz.conv.geometry import Geometry, Pooling
from cnnviz.conv.numfmt import fmt
from cnnviz.conv.stepper import conv_walkthrough, explain, pool_walkthrough

FIVE = np.array([[1, 2, 3, 0, 1], [0, 1, 2, 3, 1], [3, 0, 1, 2, 0], [1, 2, 3, 0, 1], [0, 1, 2, 3, 0]])
EDGE = np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]])
THREE = np.arange(1, 10).reshape(3, 3)


def test_five_by_five_edge_example():
    walk = conv_walkthrough(FIVE, EDGE, Geometry(padding=1))
    expected = [[5, 9, 16, -10, 4], [-7, -4, 4, 14, 2], [20, -13, -5, 5, -7], [2, 5, 13, -12, 3], [-4, 0, 7, 18, -4]]
    np.testing.assert_array_equal(walk.output, expected)
    first = walk.steps[0]
    # By hand: the window covers padding row 0, then [0 1 2] and [0 0 1]; only the centre weighs +8.
    assert explain(walk, first) == "0×(-1) + 0×(-1) + 0×(-1) + 0×(-1) + 1×8 + 2×(-1) + 0×(-1) + 0×(-1) + 1×(-1) = 5"
    assert first.is_padding == (True, True, True, True, False, False, True, False, False)
    assert [s.total for s in walk.steps[:2]] == [5, 9]


def test_three_by_three_examples():
    valid = conv_walkthrough(THREE, np.eye(3), Geometry(padding="valid"))
    assert len(valid.steps) == 1
    assert explain(valid, valid.steps[0]) == "1×1 + 2×0 + 3×0 + 4×0 + 5×1 + 6×0 + 7×0 + 8×0 + 9×1 = 15"
    padded = conv_walkthrough(THREE, np.eye(3), Geometry(padding=1))
    np.testing.assert_array_equal(padded.output, [[6, 8, 3], [12, 15, 8], [7, 12, 14]])


def test_pooling_examples():
    sixteen = np.arange(1, 17).reshape(4, 4)
    max_walk = pool_walkthrough(sixteen, Pooling("max", 2, 2))
    avg_walk = pool_walkthrough(sixteen, Pooling("avg", 2, 2))
    np.testing.assert_array_equal(max_walk.output, [[6, 8], [14, 16]])
    np.testing.assert_array_equal(avg_walk.output, [[3.5, 5.5], [11.5, 13.5]])
    assert explain(max_walk, max_walk.steps[0]) == "max(1, 2, 5, 6) = 6"
    assert explain(avg_walk, avg_walk.steps[0]) == "(1 + 2 + 5 + 6) / 4 = 3.5"


def test_flip_uses_the_rotated_kernel():
    kernel = np.array([[1, 2], [3, 4]])
    walk = conv_walkthrough(np.ones((2, 2)), kernel, Geometry(flip=True))
    assert walk.steps[0].weights == (4, 3, 2, 1)
    np.testing.assert_array_equal(walk.kernel, [[4, 3], [2, 1]])


def test_dilation_and_stride_cells():
    walk = conv_walkthrough(np.arange(49).reshape(7, 7), np.ones((2, 2)), Geometry(stride=(2, 3), dilation=2))
    assert walk.steps[1].cells == ((0, 3), (0, 5), (2, 3), (2, 5))


def test_bias_is_written_out():
    walk = conv_walkthrough(np.ones((1, 1)), np.ones((1, 1)) * 2, Geometry(), bias=-0.5)
    assert explain(walk, walk.steps[0]) == "1×2 + (-0.5) = 1.5"


def test_fmt():
    assert [fmt(5.0), fmt(-0.5), fmt(1 / 3), fmt(2.0000000001), fmt(-3)] == ["5", "-0.5", "0.333", "2", "-3"]


def test_errors():
    with pytest.raises(ValueError, match="padded input"):
        conv_walkthrough(np.ones((2, 2)), np.ones((3, 3)), Geometry())
    with pytest.raises(ValueError, match="2-D input"):
        conv_walkthrough(np.ones((2, 2, 3)), np.ones((1, 1)), Geometry())
    with pytest.raises(ValueError, match="max or avg"):
        pool_walkthrough(np.ones((2, 2)), Pooling("none"))


@given(
    h=st.integers(1, 6), w=st.integers(1, 6), kh=st.integers(1, 3), kw=st.integers(1, 3),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)), dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    pad=st.one_of(st.just("same"), st.just("valid"), st.tuples(st.integers(0, 2), st.integers(0, 2))),
    mode=st.sampled_from(["zeros", "replicate", "circular", "reflect"]), flip=st.booleans(), seed=st.integers(0, 99),
)
def test_steps_equal_ops(h, w, kh, kw, stride, dilation, pad, mode, flip, seed):
    rng = np.random.default_rng(seed)
    image, kernel = rng.integers(-5, 6, (h, w)), rng.integers(-3, 4, (kh, kw))
    geometry = Geometry(padding=pad, padding_mode=mode, stride=stride, dilation=dilation, flip=flip)
    try:
        expected = ops.conv2d(image, kernel, **geometry.conv_kwargs())
    except ValueError as refused:
        # The walkthrough refuses what ops refuses, with ops' message: the one that names the bad value.
        with pytest.raises(ValueError, match=f"^{re.escape(str(refused))}$"):
            conv_walkthrough(image, kernel, geometry)
        return
    walk = conv_walkthrough(image, kernel, geometry)
    np.testing.assert_array_equal(walk.output, expected)
    for step in walk.steps:
        assert sum(x * k for x, k in zip(step.inputs, step.weights)) == pytest.approx(step.total)
        for (r, c), value in zip(step.cells, step.inputs):
            assert walk.padded[r, c] == value


@given(h=st.integers(1, 6), w=st.integers(1, 6), size=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       stride=st.tuples(st.integers(1, 3), st.integers(1, 3)), kind=st.sampled_from(["max", "avg"]), seed=st.integers(0, 99))
def test_pool_steps_equal_ops(h, w, size, stride, kind, seed):
    x = np.random.default_rng(seed).integers(-9, 10, (h, w))
    if size[0] > h or size[1] > w:
        return
    walk = pool_walkthrough(x, Pooling(kind, size, stride))
    np.testing.assert_allclose(walk.output, ops.pool2d(x, kind, size, stride))

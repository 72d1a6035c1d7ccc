"""The backward pass: Axis.transposed, and the Backward-pass page's compute against torch autograd and by hand."""
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnviz.conv import ops
from cnnviz.conv.geometry import Axis, TransposedAxis

QUICK = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@settings(max_examples=200, **QUICK)
@given(size=st.integers(1, 12), kernel=st.integers(1, 5), stride=st.integers(1, 4), padding=st.integers(0, 3),
       dilation=st.integers(1, 3))
def test_the_transposed_axis_maps_the_output_back_to_the_input_length(size, kernel, stride, padding, dilation):
    axis = Axis(size, kernel, stride, padding, padding, dilation)
    if not axis.fits:
        return
    back = axis.transposed()
    assert back.out_size == size and back.size == axis.out_size
    assert back.forward() == axis  # the convolution it transposes is the one it came from
    for i in range(axis.out_size):
        assert back.targets(i) == axis.window(i)  # a stamp lands where that output's window read


def test_the_floors_dropped_positions_come_back_as_output_padding():
    axis = Axis(size=6, kernel=3, stride=2, pad_before=1, pad_after=1)  # ⌊(8 − 3) / 2⌋ + 1 = 3 drops one position
    assert axis.transposed() == TransposedAxis(size=3, kernel=3, stride=2, padding=1, dilation=1, output_padding=1)
    assert Axis(5, 3, 2, 1, 1).transposed().output_padding == 0


def test_uneven_padding_has_no_transposed_axis():
    with pytest.raises(ValueError, match=re.escape("got padding 0 before and 1 after: use the same padding")):
        Axis(5, 2, 1, 0, 1).transposed()

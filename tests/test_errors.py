"""Translated errors: the core raises catalog keys, str() stays the English it always was, the UI renders them
in the reader's language, nested reasons included."""
import copy
import pickle
import re

import numpy as np
import pytest

from cnnviz import data, model
from cnnviz.analysis import receptive_field
from cnnviz.conv import geometry, images, kernels, numfmt, ops
from cnnviz.errors import Join, Text, UserError
from cnnviz.i18n import CATALOG
from cnnviz.training import checkpoints, config

HAN = re.compile(r"[\u4e00-\u9fff]")


def raised(call, *args, **kwargs) -> UserError:
    with pytest.raises(UserError) as info:
        call(*args, **kwargs)
    return info.value


def test_english_is_word_for_word_the_old_text():
    # Each expected string is the f-string the code had before, filled in by hand.
    assert str(raised(lambda: geometry.Axis(5, 9).out_size)) == (
        "the window spans 9 (kernel 9, dilation 1) but the padded input is only 5 (5 + 0 + 0): use a smaller "
        "kernel or dilation, or more padding")
    assert str(raised(ops.conv2d, np.ones((4, 6)), np.ones((5, 3)))) == (
        "kernel 5x3 with dilation 1x1 spans 5 rows but the padded input has only 4: reduce the kernel size or "
        "dilation, or add padding")
    assert str(raised(ops.pad, np.ones((3, 3)), ((3, 0), (0, 0)), "reflect")) == (
        "reflect padding must be smaller than the input: padding ((3, 0), (0, 0)) on a 3x3 input. Use less "
        "padding, or the replicate or zeros mode")
    assert str(raised(geometry.as_pair, 0, "stride", minimum=1)) == "stride must be at least 1, got stride=0"
    assert str(raised(geometry.Geometry, padding_mode="wrap")) == (
        "padding_mode must be one of ('zeros', 'reflect', 'replicate', 'circular'), got padding_mode='wrap'")
    assert str(raised(numfmt.parse_rows, "1 x")) == (
        "row 1, column 2: 'x' is not a number: type a value such as 0.5, -2 or 1/9")
    assert str(raised(kernels.normalize_sum, np.array([[1.0, -1.0]]))) == (
        "This kernel sums to 0 (it measures change, not brightness), so it cannot be scaled to sum 1.")
    assert str(raised(config.TrainConfig(lr=-1.0).validate)) == "lr must be a positive number, got lr=-1.0"


def test_nested_reasons_read_as_before():
    cfg = model.ModelConfig(blocks=(model.ConvBlock(channels=4, kernel_size=9, padding=0),), input_size=5)
    error = raised(cfg.validate)
    assert str(error) == (
        "block 1 shrinks the 5x5 input to nothing (the window spans 9 (kernel 9, dilation 1) but the padded input "
        "is only 5 (5 + 0 + 0): use a smaller kernel or dilation, or more padding). Use fewer blocks, more "
        "padding, a smaller kernel, stride or pooling")
    bad_block = model.ModelConfig(blocks=(model.ConvBlock(channels=0),))
    assert str(raised(bad_block.validate)) == "block 1: channels must be an int of at least 1, got channels=0"


def test_chinese_renders_every_nested_part_in_chinese():
    cfg = model.ModelConfig(blocks=(model.ConvBlock(channels=4, kernel_size=9, padding=0),), input_size=5)
    text = raised(cfg.validate).message("zh")
    assert text == ("卷积块 1 把 5x5 的输入缩得一点不剩（窗口跨度为 9（卷积核 9，膨胀率 1），但填充后的输入只有 5"
                    "（5 + 0 + 0）：请使用更小的卷积核或膨胀率，或增加填充）。请减少卷积块，增加填充，或减小卷积核、步长或池化窗口")
    assert raised(numfmt.parse_rows, "1 x").message("zh") == "第 1 行第 2 列：'x' 不是数字：请输入 0.5、-2 或 1/9 这样的值"


def test_checkpoint_mismatch_lists_its_parts_in_either_language():
    parts = Join([Text("error.checkpoint.missing", names="conv1.weight"),
                  Text("error.checkpoint.wrong_shape", names="fc.bias")])
    error = checkpoints.CheckpointError("error.checkpoint.weights_mismatch", parts=parts)
    assert str(error) == "The checkpoint's weights do not fit its config: missing conv1.weight; wrong shape for fc.bias"
    assert error.message("zh") == "检查点中的权重与它的配置不符：缺少 conv1.weight；形状不对：fc.bias"


def test_data_errors_carry_the_rebuild_hint_in_the_same_language(tmp_path):
    error = raised(data.read_idx, tmp_path / "t10k-images-idx3-ubyte.gz")
    assert isinstance(error, data.DataError)
    assert str(error) == (f"MNIST file t10k-images-idx3-ubyte.gz is missing from {tmp_path}. Run `python "
                          "scripts/build_mnist_assets.py` to rebuild the bundled MNIST files.")
    assert error.message("zh").endswith("运行 `python scripts/build_mnist_assets.py` 重新生成内置的 MNIST 文件。")


def test_the_rf_message_for_a_vanishing_layer():
    error = raised(receptive_field.analyze, [{"kernel": 3}, {"kernel": 5, "name": "big"}], input_size=5)
    assert str(error).startswith("layer 1 (big) gets a 3x3 map but its window spans 5: the window spans 5")
    assert error.message("zh").startswith("第 1 层（big）收到的特征图是 3x3，但它的窗口跨度为 5：窗口跨度为 5")


@pytest.mark.parametrize("cls", [images.ImageError, checkpoints.CheckpointError, data.DataError])
def test_subclasses_keep_their_names_and_stay_value_errors(cls):
    error = cls("error.image.empty")
    assert isinstance(error, UserError) and isinstance(error, ValueError)
    assert type(error).__name__ in ("ImageError", "CheckpointError", "DataError")


def test_pickle_and_copy_keep_the_key_and_values():
    error = raised(numfmt.parse_rows, "1 x")
    for clone in (pickle.loads(pickle.dumps(error)), copy.deepcopy(error)):
        assert type(clone) is UserError and clone.key == "error.numfmt.cell"
        assert str(clone) == str(error) and clone.message("zh") == error.message("zh")
    image_error = pickle.loads(pickle.dumps(images.ImageError("error.image.unsupported_format", format="PSD")))
    assert type(image_error) is images.ImageError and str(image_error).startswith("PSD files are not supported")


def test_unknown_language_falls_back_to_english():
    error = UserError("error.numfmt.divides_by_zero", text="1/0")
    assert error.message("xx") == str(error) == "'1/0' divides by zero"
    assert error.message("zh") == "'1/0' 除以了零"


def test_every_error_key_has_chinese_that_is_chinese():
    keys = [key for key in CATALOG["en"] if key.startswith("error.") and key != "error.join"]
    assert len(keys) > 60
    assert [key for key in keys if not HAN.search(CATALOG["zh"][key])] == []

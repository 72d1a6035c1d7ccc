"""The 1-D signals page, and the errors of ``cnnviz.conv.signal`` (``conv1d``)."""

EN = {
    # cnnviz.conv.signal
    "error.signal.ndim": "{name} must be one list of numbers (N,), got shape {shape}",
    "error.signal.empty": "{name} is empty: give it at least one number",
    "error.signal.nonfinite": "{name} contains NaN, infinity or non-numbers: every entry needs a finite number",
    "error.signal.causal_flag": "causal must be True or False, got causal={causal!r}",
    "error.signal.causal_padding": "causal padding adds its own {dilation}·({kernel} − 1) = {pad} zeros on the left: leave padding at 0, got padding={padding!r}",
}

ZH = {
    # cnnviz.conv.signal
    "error.signal.ndim": "{name} 必须是一列数字 (N,)，当前形状为 {shape}",
    "error.signal.empty": "{name} 是空的：请至少给出一个数",
    "error.signal.nonfinite": "{name} 含有 NaN、无穷大或非数字：每一项都必须是有限的数",
    "error.signal.causal_flag": "causal 必须是 True 或 False，当前 causal={causal!r}",
    "error.signal.causal_padding": "因果填充会自行在左侧补 {dilation}·({kernel} − 1) = {pad} 个零：请把 padding 保持为 0，当前 padding={padding!r}",
}

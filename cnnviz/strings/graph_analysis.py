"""A graph's layer table and fields (cnnviz.graph.analysis, cnnviz.graph.fields): notes on rows, and errors."""

EN = {
    "gtable.note.unknown_op": "{name}: cnnviz does not support the operator {op}, so its multiply-adds are not counted and the fields after it are unknown",
    "gtable.note.unsupported": "{name}: cnnviz cannot follow a receptive field through {op} used this way, so the fields from here on are unknown",
    "gtable.note.upsampling": "{name}: after an upsampling ({op}) the units see different amounts of the input depending on where they sit, so no single field size, jump and start describes them",
    "gtable.note.no_map": "{name}: {op} makes a map out of no map, so its field is unknown",
    "gtable.note.jumps_differ": "the paths that meet here step through the input by different jumps ({jumps}), so their union is no single field",
    "gtable.note.spatial_cat": "this concatenation joins maps along a spatial axis, so its units' fields differ from side to side",
    "gtable.note.broadcast": "{op} spreads a smaller map over this one, so its units' fields are unknown",
    "gtable.note.uneven_pool": "adaptive pooling from {h}x{w} to {oh}x{ow} uses windows of different sizes, so no single field describes its units",
    "gtable.note.after": "the field is unknown from {name} on",
    "gtable.note.not_spatial": "this layer's output has no rows and columns",
    "error.gtable.inputs": "the model must take one image, but its graph has {count} inputs ({names})",
    "error.gtable.shape_fixed": "this model was exported for images of {expected} and cannot run on {got}: resize the image to {expected}, or export the model with dynamic sizes (torch.export.Dim) ({reason})",
    "error.gtable.run_failed": "the model failed at node {node} on this image: {reason}",
    "error.gtable.no_row": "the model has no layer called {name!r}; its layers begin {names}",
    "error.gtable.no_field": "{name} has no receptive field to draw: {reason}",
    "error.gtable.unit": "{axis} must be from 0 to {last} for {name}, got {axis}={value!r}",
}

ZH = {
    "gtable.note.unknown_op": "{name}：cnnviz 不支持算子 {op}，因此不计它的乘加次数，它之后的感受野也未知",
    "gtable.note.unsupported": "{name}：cnnviz 无法让感受野穿过这样使用的 {op}，因此从这里开始的感受野未知",
    "gtable.note.upsampling": "{name}：上采样（{op}）之后，各单元看到的输入多少取决于它所在的位置，因此无法用一个感受野大小、跳距和起点来描述",
    "gtable.note.no_map": "{name}：{op} 不是从特征图算出特征图，因此它的感受野未知",
    "gtable.note.jumps_differ": "在这里汇合的各路径在输入上的跳距不同（{jumps}），它们的并集不是一个固定的感受野",
    "gtable.note.spatial_cat": "这个拼接沿空间轴连接特征图，因此各单元的感受野两边不同",
    "gtable.note.broadcast": "{op} 把一个较小的特征图铺满这一层，因此各单元的感受野未知",
    "gtable.note.uneven_pool": "从 {h}x{w} 到 {oh}x{ow} 的自适应池化使用大小不一的窗口，因此无法用一个感受野描述各单元",
    "gtable.note.after": "从 {name} 开始感受野未知",
    "gtable.note.not_spatial": "这一层的输出没有行和列",
    "error.gtable.inputs": "模型必须只接收一张图像，但它的计算图有 {count} 个输入（{names}）",
    "error.gtable.shape_fixed": "这个模型导出时的图像尺寸是 {expected}，不能在 {got} 上运行：请把图像缩放到 {expected}，或用动态尺寸（torch.export.Dim）重新导出模型（{reason}）",
    "error.gtable.run_failed": "模型在这张图像上于节点 {node} 处出错：{reason}",
    "error.gtable.no_row": "模型中没有名为 {name!r} 的层；它的层从这些开始：{names}",
    "error.gtable.no_field": "{name} 没有可以画出的感受野：{reason}",
    "error.gtable.unit": "{name} 的 {axis} 必须在 0 到 {last} 之间，得到的是 {axis}={value!r}",
}

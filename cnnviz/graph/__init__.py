"""Any network as a graph: opening an uploaded model safely (a ``torch.export`` program, an ONNX file or a cnnviz
checkpoint) and reading its graph (the layer table, receptive fields through branches, every node's feature maps).

Every source ends as the same thing, a ``torch.fx`` graph of ATen operators made by ``torch.export``: the analysis
reads only that, so nothing is written twice for each format.
"""

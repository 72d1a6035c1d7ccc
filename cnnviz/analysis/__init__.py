"""Looking inside networks: receptive fields and their click decoding, effective receptive fields, activations
and filters by hooks, attributions, digit preparation, the layer table and the teaching formulas. It imports the
convolution floor (``cnnviz.conv``) and the shared base, never figures, training, pages, ui or streamlit.
"""

"""cnnviz: an interactive convolution visualizer. Pure computation lives here; Streamlit code lives in cnnviz.ui."""

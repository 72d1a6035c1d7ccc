"""cnnviz: an interactive convolution visualizer. Pure computation lives here; Streamlit code lives in cnnviz.ui."""

_LAZY = {"open_model": "cnnviz.graph.open"}  # public names kept at the top, imported on first use (torch is heavy)


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'cnnviz' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])

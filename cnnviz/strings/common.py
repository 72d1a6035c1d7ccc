"""Strings shared by every page: navigation, language, generic errors."""

EN = {
    "app.title": "cnnviz",
    "nav.kernel_lab": "Kernel Lab",
    "nav.step_by_step": "Step by step",
    "nav.train": "Train on MNIST",
    "common.download_png": "Download PNG",
    "common.download_npy": "Download .npy",
    "common.crashed": "Something went wrong on our side while drawing this page. Your settings are kept: change one, or reload the page. If it happens again, tell your lecturer what you did just before.",
    "state.ignored": "This link had settings that could not be used, so their defaults are shown: {items}.",
    "state.copy_link": "Copy link",
    "state.copy_link_help": "This link opens exactly this view. Copy it with the button at the right of the box.",
}

"""Strings shared by every page: navigation, language, generic errors."""

EN = {
    "app.title": "cnnviz",
    "app.tagline": "See what convolution does, on your own images.",
    "nav.kernel_lab": "Kernel Lab",
    "nav.step_by_step": "Step by step",
    "nav.train": "Train on MNIST",
    "nav.receptive_field": "Receptive fields",
    "common.language": "Language",
    "common.download_png": "Download PNG",
    "common.download_npy": "Download .npy",
    "state.ignored": "This link had settings that could not be used, so their defaults are shown: {items}.",
    "state.copy_link": "Copy link",
    "state.copy_link_help": "This link opens exactly this view. Copy it with the button at the right of the box.",
}

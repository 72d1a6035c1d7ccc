"""Strings shared by every page: navigation, language, generic errors."""

EN = {
    "app.title": "cnnviz",
    "app.tagline": "See what convolution does, on your own images.",
    "nav.kernel_lab": "Kernel Lab",
    "nav.step_by_step": "Step by step",
    "nav.train": "Train on MNIST",
    "common.language": "Language",
    "common.download_png": "Download PNG",
    "common.download_npy": "Download .npy",
    "common.error_prefix": "Something needs changing",
}

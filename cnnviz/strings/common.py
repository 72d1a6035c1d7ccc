"""Strings shared by every page: navigation, language, generic errors."""

EN = {
    "app.title": "cnnviz",
    "app.tagline": "See what convolution does, on your own images.",
    "nav.kernel_lab": "Kernel Lab",
    "nav.step_by_step": "Step by step",
    "nav.train": "Train on MNIST",
    "common.language": "Language",
    "lang.en": "English",  # each language's name in itself, in every language: a reader finds their own
    "lang.zh": "中文",
    "common.download_png": "Download PNG",
    "common.download_npy": "Download .npy",
    "state.ignored": "This link had settings that could not be used, so their defaults are shown: {items}.",
    "state.copy_link": "Copy link",
    "state.copy_link_help": "This link opens exactly this view. Copy it with the button at the right of the box.",
}

ZH = {
    "app.title": "cnnviz",
    "app.tagline": "用你自己的图片，看懂卷积在做什么。",
    "nav.kernel_lab": "卷积核实验室",
    "nav.step_by_step": "逐步演算",
    "nav.train": "在 MNIST 上训练",
    "common.language": "语言",
    "lang.en": "English",
    "lang.zh": "中文",
    "common.download_png": "下载 PNG",
    "common.download_npy": "下载 .npy",
    "state.ignored": "链接中有些设置无法使用，已改用默认值：{items}。",
    "state.copy_link": "复制链接",
    "state.copy_link_help": "这个链接会打开与当前完全相同的视图。点击框右侧的按钮即可复制。",
}

"""?lang=zh reads as Chinese: no English words on any page, Streamlit's own uploader included (its button and size
limit are drawn in the page's words). Names that stay Latin in Chinese teaching (MNIST, PyTorch, ReLU, layer names,
units, file types, code) are allowed; any other Latin-letter word is a missing translation."""
import re

from browser_kit import assert_no_exception, open_page

VIEWS = ["?lang=zh", "?lang=zh&src=upload&bo=1", "?lang=zh&src=camera", "step-by-step?lang=zh",
         "backward?lang=zh&g=onehot&pa=1,1",
         "receptive-field?lang=zh", "train?lang=zh", "inspector?lang=zh&src=upload", "inspector?lang=zh&src=mnist",
         "lessons?lang=zh", "signals?lang=zh&c=1", "class?lang=zh", "exercises?lang=zh&kind=conv_cell&show=1",
         "exercises?lang=zh&kind=which_kernel"]

# Words a Chinese page keeps in Latin letters: datasets, libraries and formats, units, the layers' and optimizers'
# names, and the symbols of formulas.
ALLOWED = {
    "MNIST", "IDX", "PyTorch", "NumPy", "Streamlit", "cnnviz", "CNN", "CPU", "GPU", "CUDA", "ReLU", "GELU", "LeakyReLU",
    "Sigmoid", "Tanh", "SGD", "Adam", "AdamW", "adamw", "sgd", "BatchNorm", "Dropout", "Softmax", "Grad", "CAM",
    "PNG", "JPEG", "WebP", "BMP", "GIF", "TIFF", "npy", "pt", "py", "MB", "KB", "px", "ms", "lr", "fc", "ep",
    "conv", "pool", "max", "avg", "bn", "act", "fc", "VGG", "AlexNet", "ResNet", "Sobel", "Gabor", "Prewitt",
    "Laplacian", "LoG", "DoG", "RGB", "HSV", "LeNet", "ImageNet", "URL", "ID", "Ctrl", "Cmd", "Tab", "Enter",
    "in", "out", "valid", "same", "zeros", "reflect", "replicate", "circular", "dilation", "stride", "padding",
    "Conv2d", "MaxPool2d", "AvgPool2d", "Linear", "nn", "torch", "in_channels", "out_channels", "kernel_size",
    "English",  # the language selector names each language in itself
    "torchvision",
    "autograd", "conv_transpose2d", "float64",  # PyTorch's names, as the Backward-pass page writes them in code
    "Luo",  # Luo et al., whose effective receptive field the page cites
    "WaveNet",  # the dilated causal stack the 1-D page draws is named after it
}
SYMBOL = re.compile(r"^(?:[A-Za-z]|[A-Za-z]_?\d.*|[A-Z]_[a-z]+|[A-Z][a-z]?|[a-z]{1,2}\d*)$")  # H, W, k, C_in, x2

TEXTS_JS = """
() => {
  const texts = [];
  const skip = (el) => el.closest('code, pre, kbd, style, script, [translate=no], [data-testid=stIconMaterial], '
                                   + '.katex, [data-testid=stSkipToContent], .js-plotly-plot .modebar');
  const roots = [document.querySelector('[data-testid=stApp]')];
  for (const e of document.querySelectorAll('[data-testid^=stBidiComponent] *'))
    if (e.shadowRoot) roots.push(e.shadowRoot);
  for (const root of roots) {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const el = node.parentElement, text = node.textContent.trim();
      if (!text || !el || skip(el)) continue;
      const s = getComputedStyle(el);
      if (s.visibility === 'hidden' || parseFloat(s.fontSize) === 0 || el.getClientRects().length === 0) continue;
      texts.push(text);
    }
  }
  return texts;
}
"""


def english_words(texts: list[str]) -> list[str]:
    words = set()
    for text in texts:
        for word in re.findall(r"[A-Za-z][A-Za-z0-9_]*", text):
            if word not in ALLOWED and not SYMBOL.match(word) and not re.match(r"^(conv|pool|max|act|bn|fc)\d", word):
                words.add(word)
    return sorted(words)


def test_every_page_in_chinese_has_no_english_words(page, app_url):
    found = {}
    for view in VIEWS:
        open_page(page, app_url, view)
        assert_no_exception(page)
        page.wait_for_function("() => document.querySelector('[data-testid=stMain] h1')")
        for expander in page.locator("[data-testid=stMain] [data-testid=stExpander] summary").all():
            expander.click()  # what is folded away is read too (the checkpoint uploader)
        words = english_words(page.evaluate(TEXTS_JS))
        if words:
            found[view] = words
    assert found == {}, found

"""The floor a Streamlit page cannot go below on this machine: one number input, one 1024x683 picture, a 3x3 blur.

bench/kernel_lab.py --browser times it beside the Kernel Lab, with the same clicks, in the same run. With
CNNVIZ_REFERENCE_ELEMENTS=N it also carries N inert elements (half number inputs in the sidebar, half short texts),
which the changes never touch: the floor of a page as big as the Kernel Lab (bench/kernel_lab.py --same-size).

    streamlit run bench/reference_page.py
"""
import os

import numpy as np
import streamlit as st
from PIL import Image, ImageFilter

EXTRA = int(os.environ.get("CNNVIZ_REFERENCE_ELEMENTS", "0"))  # inert elements beside the picture


@st.cache_data
def photo() -> Image.Image:
    y, x = np.mgrid[0:683, 0:1024] / 683
    rgb = np.stack([np.sin(12 * x) * 0.5 + 0.5, np.cos(9 * y) * 0.5 + 0.5, (x * y) % 1], axis=-1)
    return Image.fromarray((rgb * 255).astype(np.uint8))


with st.sidebar:
    for i in range(EXTRA // 2):
        st.number_input(f"Setting {i}", key=f"extra_input_{i}")
for i in range(EXTRA - EXTRA // 2):
    st.caption(f"Text {i}: a line that stays as it is.")
value = st.number_input("Brightness", 0, 100, 0, key="value")
blurred = np.asarray(photo().filter(ImageFilter.BoxBlur(1)), dtype=np.int16) + value  # a 3x3 blur, then the input
st.image(np.clip(blurred, 0, 255).astype(np.uint8), width="stretch")

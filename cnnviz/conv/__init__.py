"""The convolution floor: a window sliding over an input, and everything the Kernel Lab and the step-by-step page
compute with it (geometry, ops, the kernel library, images and bundled samples, number formatting, the page's
pipeline and the stepper). It imports only the shared base at the top of ``cnnviz`` (errors, i18n, data) and never
analysis, figures, training, pages, ui or streamlit.
"""

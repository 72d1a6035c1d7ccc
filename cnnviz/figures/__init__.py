"""Pictures: arrays and records in, PNG bytes or plotly figures out, never computing what they draw. ``maps`` draws
maps of any size, ``receptive_fields`` the input with its fields, ``network`` the inspector's views of a network and
``training`` a run's charts. It imports ``cnnviz.conv``, ``cnnviz.analysis`` and the shared base, never pages, ui or
streamlit; ``training`` also reads the metrics record of ``cnnviz.training.loop`` (the one import from training).
"""

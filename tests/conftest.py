"""Shared test settings."""
import os

from hypothesis import settings

# The machine is shared and noisy: no per-example deadline, a modest example count.
settings.register_profile("cnnviz", deadline=None, max_examples=60)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "cnnviz"))

"""Gradio, imported on first use (the demo is an optional extra): the only place condgen.serve imports it, with
its telemetry switched off first, and Gradio's upload folder."""

from __future__ import annotations

import os

from condgen.errors import MissingDependencyError

# Set before gradio is imported anywhere: no version check or telemetry calls home.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def _gradio():
    """The gradio module, or a MissingDependencyError saying how to install it."""
    try:
        import gradio as gr
    except ImportError:
        raise MissingDependencyError.extra("the web demo", "demo", "gradio") from None
    return gr


def upload_folder() -> str:
    """Gradio's upload folder (``GRADIO_TEMP_DIR`` or TMP/gradio): the only place uploads are read from."""
    return _gradio().utils.get_upload_folder()

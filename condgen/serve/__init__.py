"""The web demo: ``condgen serve RUN [RUN ...]`` starts a Gradio app with one tab per loaded run.

What a tab offers follows the model's verbs, not its name, so new models plug in: ``sample_z`` + ``generate``
(generators: a sample grid, a class, a seed, a latent walk), ``cfg.label_nc`` + ``translate`` (semantic synthesis:
upload or paint a label map), ``translate`` / ``upscale`` / ``stylize`` (image translators: upload an image).

Safe by default: bound to 127.0.0.1, uploads limited in bytes (Gradio's ``max_file_size``, and a cap on the bytes
held at once) and in pixels (checked from the header through condgen's decompression-bomb guard before anything
decodes), images read only through condgen's own open functions and only from files this server received as uploads
(``condgen.uploads``: real paths inside the upload folder; every upload deleted when its request ends), no path
inputs (only the runs given on the command line are reachable, and Gradio serves no extra folders), no share link,
no analytics; a user's mistake is shown as a short message (the CondgenError text) and the server keeps serving.

The package: ``inputs`` (form values and uploads checked, no Gradio), ``demos`` (one demo per kind of model and
``demo_for``, no Gradio), ``ui`` (the Gradio components, tabs and ``build_app``) and ``server`` (``serve``);
``lazy_gradio`` is the one place Gradio is imported, on first use.
"""

from __future__ import annotations

from condgen.errors import ConfigError
from condgen.serve import demos, inputs, server, ui
from condgen.serve.demos import (
    CANVAS_SIDE,
    MAX_GRID,
    AnonymizerDemo,
    GeneratorDemo,
    SemanticDemo,
    TranslatorDemo,
    demo_for,
    load_runs,
)
from condgen.serve.inputs import DEFAULT_MAX_PIXELS, DEFAULT_MAX_UPLOAD_MB, HELD_UPLOADS, MAX_SEED, _Limits
from condgen.serve.lazy_gradio import upload_folder
from condgen.serve.server import LOCAL_HOSTS, serve
from condgen.serve.ui import _components, build_app, user_errors

__all__ = ["CANVAS_SIDE", "DEFAULT_MAX_PIXELS", "DEFAULT_MAX_UPLOAD_MB", "HELD_UPLOADS", "LOCAL_HOSTS", "MAX_GRID",
           "MAX_SEED", "AnonymizerDemo", "ConfigError", "GeneratorDemo", "SemanticDemo", "TranslatorDemo", "_Limits",
           "_components", "build_app", "demo_for", "demos", "inputs", "load_runs", "server", "serve", "ui",
           "upload_folder", "user_errors"]

"""``condgen serve``: build the demo and serve it on a local address (a warning for any other)."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

from condgen.serve.inputs import DEFAULT_MAX_PIXELS, DEFAULT_MAX_UPLOAD_MB
from condgen.serve.ui import build_app

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def serve(runs: Sequence[Any], host: str = "127.0.0.1", port: int = 7860, device: str = "cpu",
          max_pixels: int = DEFAULT_MAX_PIXELS, max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB, block: bool = True):
    """Load the runs and serve the demo on ``host:port`` (blocks until interrupted unless ``block=False``; then
    returns the app, to ``close()``)."""
    if host not in LOCAL_HOSTS:
        print(f"warning: serving on {host}: anyone who can reach this address can use the demo and load this "
              "machine (the default, 127.0.0.1, is reachable from this computer only).", file=sys.stderr)
    # only the runs given are reachable: no extra folders from the environment either
    os.environ.pop("GRADIO_ALLOWED_PATHS", None)
    app = build_app(runs, device=device, max_pixels=max_pixels, max_upload_mb=max_upload_mb)
    app.queue(default_concurrency_limit=1, max_size=64)
    if block:
        print(f"condgen demo of {len(app.condgen_demos)} run(s) on http://{host}:{port} (Ctrl+C stops it)",
              file=sys.stderr)
    app.launch(server_name=host, server_port=port, share=False, inbrowser=False, show_error=False,
               allowed_paths=[], max_file_size=f"{int(max_upload_mb * 1000)}kb", prevent_thread_lock=not block,
               ssr_mode=False, quiet=True)
    return app

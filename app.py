"""Image Alignment Studio: `python app.py` serves the studio (host/port from GRADIO_SERVER_NAME/PORT)."""
from __future__ import annotations

import logging
import os

from backends.runtime import on_zero_gpu, preload_marked
from studio.auth import password_checker
from studio.ui.app import CSS, build_app, serve

logging.basicConfig(level=os.environ.get("STUDIO_LOG_LEVEL", "INFO"), format="%(levelname)s %(name)s: %(message)s")

on_zero_gpu()  # ZeroGPU wants ``spaces`` imported before anything touches CUDA
demo = build_app()
# ZeroGPU: models of backends marked ``preload: true`` go to CUDA now, outside any GPU function
preload_marked(demo.studio.backends)

if __name__ == "__main__":
    # STUDIO_AUTH_MODE=password: the web server asks for a login from STUDIO_USERS (None otherwise)
    serve(demo, css=CSS, auth=password_checker(demo.studio.settings))

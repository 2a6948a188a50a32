"""The Hugging Face Space entry point of the NanoEmoX web demo: the checkpoint id (or folder) is NANOEMOX_MODEL.

    NANOEMOX_MODEL=owner/nanoemox python app.py      # serves on 0.0.0.0:7860 (GRADIO_SERVER_NAME, PORT override)

The page itself is `nanoemox.app.build_app` (locally: `nanoemox app --model DIR`). A Space installs the package with
its `app` extra (requirements.txt: `nanoemox[app]`).
"""

import logging
import os

from nanoemox.app import main

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    host, port = os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0"), os.environ.get("PORT", "7860")
    raise SystemExit(main(["--host", host, "--port", port]))

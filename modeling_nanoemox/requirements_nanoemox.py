"""What the checkpoint's code needs beyond torch, transformers and numpy, and one error that names all of it.

The model itself runs on torch + transformers. Reading media (the processor, the pipeline) also needs Pillow,
PyAV and OpenCV; a checkpoint's model card and the README give the same `pip install` line as the error below.

    from .requirements_nanoemox import require
    av = require("av")              # the module, or an ImportError listing every missing media package at once

The media modules import these packages only through `require`, never with an import statement: transformers
checks a remote-code file's import statements before running it and would stop at the first missing one with a
module name (`PIL`, `cv2`) that is not the name to `pip install`.
"""

from __future__ import annotations

import importlib

# module imported -> the requirement to pip install (what the package's own pyproject asks for)
MEDIA_REQUIREMENTS = {
    "PIL": "pillow>=10",
    "av": "av>=12",
    "cv2": "opencv-python-headless>=4.8,<5",
}


def pip_install_line() -> str:
    """`pip install "pillow>=10" "av>=12" "opencv-python-headless>=4.8,<5"`: what media reading needs."""
    return "pip install " + " ".join(f'"{r}"' for r in MEDIA_REQUIREMENTS.values())


def missing_media_requirements() -> list[str]:
    """The pip requirements of `MEDIA_REQUIREMENTS` whose module does not import, in that order."""
    missing = []
    for module, pip in MEDIA_REQUIREMENTS.items():
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(pip)
    return missing


def check_media_requirements() -> None:
    """Raise one `ImportError` naming every missing media package and the line that installs them."""
    missing = missing_media_requirements()
    if missing:
        raise ImportError(
            f"NanoEmoX reads video, audio and faces with Pillow, PyAV and OpenCV; missing: {', '.join(missing)}. "
            f"Install them with: {pip_install_line()}"
        )


# optional modules -> the requirement to pip install: needed only by the option that uses them
OPTIONAL_REQUIREMENTS = {"dlib": "dlib-bin"}


def require(module: str):
    """Import `module` (e.g. "av", "cv2", "PIL.Image"); when that fails, the error lists every missing package."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        check_media_requirements()
        top = module.split(".")[0]
        if top in OPTIONAL_REQUIREMENTS:
            raise ImportError(f"{top} is needed for this option: pip install {OPTIONAL_REQUIREMENTS[top]}") from exc
        raise


__all__ = [
    "OPTIONAL_REQUIREMENTS",
    "MEDIA_REQUIREMENTS",
    "check_media_requirements",
    "missing_media_requirements",
    "pip_install_line",
    "require",
]

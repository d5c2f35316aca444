"""stylize: real-time arbitrary style transfer for stills, video files and live cameras.

The top floor of the house (docs/architecture.md): the command line (``stylize.cli``) and
the Python API, which every command calls::

    from stylize import Stylizer
    Stylizer(model="magenta").image_file("photo.jpg", "out.png", style="starry.jpg")

The floors it stands on install inside this package: ``stylize.runtime`` (torch-free
engines, video, live), ``stylize.training`` (PyTorch models and training),
``stylize.export`` (ONNX and TensorRT) and ``stylize.benchmarks``.
"""

from __future__ import annotations

from pathlib import Path as _Path
from typing import Any

# In a source checkout the floors are folders beside this one (runtime/, training/, ...);
# an installed distribution has them inside it. Either way they import as stylize.runtime,
# stylize.training, ...: a checkout that is not installed finds them through this path.
_checkout = _Path(__file__).resolve().parent.parent
if (_checkout / "pyproject.toml").is_file() and (_checkout / "runtime" / "__init__.py").is_file():
    __path__.append(str(_checkout))

__all__ = ["LiveReport", "Stylizer", "UserError", "VideoReport"]


def __getattr__(name: str) -> Any:
    # The API loads on first use, so that importing one floor (stylize.runtime.store, say)
    # does not load the others.
    if name in ("Stylizer", "VideoReport", "LiveReport"):
        from stylize import api

        return getattr(api, name)
    if name == "UserError":
        from stylize.runtime.errors import UserError

        return UserError
    raise AttributeError(f"module 'stylize' has no attribute {name!r}")

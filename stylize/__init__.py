"""stylize: real-time arbitrary style transfer for stills, video files and live cameras.

The top floor of the house (docs/architecture.md): the command line (``stylize.cli``) and
the Python API below, which every command calls. The floors it stands on are
``stylize.runtime`` (torch-free engines, video, live), ``stylize.training`` (PyTorch
models and training), ``stylize.export`` (ONNX and TensorRT) and ``stylize.benchmarks``.
"""

from __future__ import annotations

from pathlib import Path as _Path

# In a source checkout the floors are folders beside this one (runtime/, training/, ...);
# an installed distribution has them inside it. Either way they import as stylize.runtime,
# stylize.training, ...: a checkout that is not installed finds them through this path.
_checkout = _Path(__file__).resolve().parent.parent
if (_checkout / "pyproject.toml").is_file() and (_checkout / "runtime" / "__init__.py").is_file():
    __path__.append(str(_checkout))

"""What machine a benchmark ran on: CPU, cores, GPU, driver, library versions."""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import re
import socket
from pathlib import Path


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def describe() -> dict[str, object]:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    info: dict[str, object] = {
        "host": socket.gethostname(),
        "cpu": _cpu_model(),
        "cores": cores,
        "python": platform.python_version(),
        "os": platform.platform(),
        "libraries": {
            name: v
            for name in ("torch", "onnxruntime", "onnxruntime-gpu", "onnx", "tensorrt", "numpy", "opencv-python-headless", "av")
            if (v := _version(name))
        },
        "gpu": None,
    }
    try:
        import torch

        if torch.cuda.is_available():
            p = torch.cuda.get_device_properties(0)
            info["gpu"] = {
                "name": p.name,
                "memory_gb": round(p.total_memory / 2**30, 1),
                "compute_capability": f"{p.major}.{p.minor}",
                "cuda": torch.version.cuda,
                "cudnn": torch.backends.cudnn.version(),
                "driver": _nvidia_driver(),
            }
    except ImportError:
        pass
    return info


def _nvidia_driver() -> str | None:
    try:
        with open("/proc/driver/nvidia/version") as f:
            return f.readline().strip()
    except OSError:
        return None


def slug(info: dict[str, object]) -> str:
    """A short file-name-safe name for the machine: GPU name, else CPU model, and cores."""
    gpu = info.get("gpu")
    base = gpu["name"] if isinstance(gpu, dict) else str(info["cpu"])
    text = re.sub(r"\((r|tm)\)|@.*$", "", str(base), flags=re.IGNORECASE)
    name = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:50]
    return name if isinstance(gpu, dict) else f"{name}-{info['cores']}c"


RESULTS = Path(__file__).resolve().parent / "results"


def results_folder(info: dict[str, object]) -> Path:
    """``benchmarks/results/MACHINE``: where a machine's results are kept."""
    return RESULTS / slug(info)


def write_results(result: dict[str, object], folder: Path, name: str) -> Path:
    """``folder/NAME.json`` (the folder made where missing), written atomically."""
    from stylize.runtime.files import atomic_output

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(result, indent=1, default=float))
    return path

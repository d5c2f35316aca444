"""PyTorch -> ONNX graphs -> TensorRT engines, and the checks on the graphs.

Modules (only ``graphs`` and ``onnx_export`` import torch; the rest need onnx at most, or
tensorrt where present):

- ``graphs``          the two graphs of every family as torch modules, FP16 precision policy
- ``onnx_export``     torch.onnx (dynamo) export, graph passes, metadata, writing the files
- ``onnx_passes``     graph surgery on ONNX protos (uint8 NHWC frame I/O, Resize sizes, ...)
- ``checks``          onnx.checker, TensorRT operator support, FP16 reductions walk
- ``tensorrt_build``  ``stylize build-engine``: both graphs' TensorRT engines for chosen profiles
                      (keys, build and runner: ``stylize.runtime.backends.tensorrt``)
- ``measure``         ``python -m stylize.export.measure``: sizes, node counts, CPU latency
"""

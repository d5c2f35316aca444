"""One TensorRT engine and its execution context: numpy arrays in, numpy arrays out.

Written to TensorRT's name-based tensor API (``num_io_tensors``, ``get_tensor_name``,
``set_input_shape``, ``set_tensor_address``, ``execute_async_v3``), with device memory from
cuda-python's runtime bindings.

    with TrtRunner(keys.load_checked(engine, onnx, gpu, trt.__version__)) as run:
        out = run({"frames": frames_u8, "style_vector": vec, "alpha": np.array([1.0], np.float32)})

Device buffers are allocated once per set of input shapes and kept for the next call of the
same shapes (docs/architecture.md, "Traps"); the few most recent shape sets stay allocated.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np

from ...errors import UserError
from .keys import cudart_or_error, tensorrt_or_error

ShapeKey = tuple[tuple[str, tuple[int, ...]], ...]


class NotDeserialised(UserError):
    """TensorRT refused the engine's bytes (built by another TensorRT or for another GPU
    than its record says): the engine is rebuilt."""


def _ok(result: Any) -> Any:
    """cuda-python calls return (error, value...); raise on error, return the value(s)."""
    err, *values = result if isinstance(result, tuple) else (result,)
    if int(err) != 0:
        raise RuntimeError(f"CUDA call failed: {err}")
    return values[0] if len(values) == 1 else tuple(values) or None


class TrtRunner:
    KEEP_SHAPES = 4  # shape sets whose buffers stay allocated

    def __init__(self, engine_bytes: bytes, device: int = 0) -> None:
        trt = tensorrt_or_error()
        self.cudart = cudart_or_error()
        self.device = device
        self.stream = None
        self._buffers: OrderedDict[ShapeKey, dict[str, tuple[int, int]]] = OrderedDict()  # shapes -> name -> (pointer, bytes)
        self._out_shapes: dict[ShapeKey, dict[str, tuple[int, ...]]] = {}
        self._bound: ShapeKey | None = None
        _ok(self.cudart.cudaSetDevice(device))
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.runtime = trt.Runtime(self.logger)
        self.engine = self.runtime.deserialize_cuda_engine(engine_bytes)
        if self.engine is None:
            raise NotDeserialised("TensorRT could not deserialise the engine")
        self.context = self.engine.create_execution_context()
        if self.context is None:
            raise UserError("TensorRT could not create an execution context (is the GPU's memory full?)")
        self.stream = _ok(self.cudart.cudaStreamCreate())
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.outputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        self.dtypes = {n: np.dtype(trt.nptype(self.engine.get_tensor_dtype(n))) for n in names}

    def _bind(self, key: ShapeKey) -> None:
        """Set the input shapes and the tensors' addresses, allocating buffers for new shapes."""
        for name, shape in key:
            if not self.context.set_input_shape(name, shape):
                raise UserError(f"input {name!r} shape {shape} is outside the engine's optimisation profile")
        buffers = self._buffers.get(key)
        if buffers is None:
            while len(self._buffers) >= self.KEEP_SHAPES:
                old, oldest = self._buffers.popitem(last=False)
                self._out_shapes.pop(old, None)
                self._free(oldest)
            buffers, out_shapes = {}, {}
            for name in self.inputs + self.outputs:
                shape = tuple(self.context.get_tensor_shape(name))
                nbytes = int(np.prod(shape)) * self.dtypes[name].itemsize
                buffers[name] = (int(_ok(self.cudart.cudaMalloc(max(nbytes, 1)))), nbytes)
                if name in self.outputs:
                    out_shapes[name] = shape
            self._buffers[key] = buffers
            self._out_shapes[key] = out_shapes
        self._buffers.move_to_end(key)
        for name, (ptr, _) in buffers.items():
            self.context.set_tensor_address(name, ptr)
        self._bound = key

    def __call__(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        cudart = self.cudart
        host = {n: np.ascontiguousarray(feeds[n], dtype=self.dtypes[n]) for n in self.inputs}
        key = tuple((n, tuple(a.shape)) for n, a in host.items())
        _ok(cudart.cudaSetDevice(self.device))  # the calling thread's device (video runs the engine on its own thread)
        if key != self._bound:
            self._bind(key)
        buffers = self._buffers[key]
        h2d, d2h = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        for name, arr in host.items():
            ptr, nbytes = buffers[name]
            _ok(cudart.cudaMemcpyAsync(ptr, arr.ctypes.data, nbytes, h2d, self.stream))
        if not self.context.execute_async_v3(int(self.stream)):
            raise RuntimeError("TensorRT execute_async_v3 failed")
        outs = {n: np.empty(s, self.dtypes[n]) for n, s in self._out_shapes[key].items()}
        for name, arr in outs.items():
            ptr, nbytes = buffers[name]
            _ok(cudart.cudaMemcpyAsync(arr.ctypes.data, ptr, nbytes, d2h, self.stream))
        _ok(cudart.cudaStreamSynchronize(self.stream))
        return outs

    def _free(self, buffers: dict[str, tuple[int, int]]) -> None:
        for ptr, _ in buffers.values():
            self.cudart.cudaFree(ptr)

    def close(self) -> None:
        for buffers in self._buffers.values():
            self._free(buffers)
        self._buffers.clear()
        self._out_shapes.clear()
        self._bound = None
        if self.stream is not None:
            self.cudart.cudaStreamDestroy(self.stream)
            self.stream = None

    def __enter__(self) -> TrtRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

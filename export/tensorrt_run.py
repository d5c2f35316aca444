"""A small TensorRT engine runner: numpy arrays in, numpy arrays out (TensorRT 10.x / 11.x).

Unverified (README.md, "Limits"): written to TensorRT's documented name-based tensor API (``num_io_tensors``, ``get_tensor_name``,
``set_input_shape``, ``set_tensor_address``, ``execute_async_v3``), with device memory
from cuda-python's runtime bindings. Torch-free.

    data = tensorrt_build.load_checked(engine_path, onnx_path, gpu_info(), tensorrt.__version__)
    with TrtRunner(data) as run:
        out = run({"frames": frames_u8, "style_vector": vec, "alpha": np.array([1.0], np.float32)})

Device buffers are allocated once per input shape (docs/architecture.md, "Traps"), not per call.
"""

from __future__ import annotations

import numpy as np

from stylize.export.tensorrt_build import tensorrt_or_error
from stylize.runtime.errors import UserError


def _cudart():  # noqa: ANN202 (the cuda runtime bindings module)
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        try:
            from cuda import cudart  # cuda-python < 12.6
        except ImportError:
            raise UserError("the TensorRT runner needs cuda-python: pip install 'stylize[gpu]'") from None
    return cudart


def _ok(result):  # noqa: ANN001, ANN202
    """cuda-python calls return (error, value...); raise on error, return the value(s)."""
    err, *values = result if isinstance(result, tuple) else (result,)
    if int(err) != 0:
        raise RuntimeError(f"CUDA call failed: {err}")
    return values[0] if len(values) == 1 else tuple(values) or None


class TrtRunner:
    def __init__(self, engine_bytes: bytes) -> None:
        trt = tensorrt_or_error()
        self.trt = trt
        self.cudart = _cudart()
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.runtime = trt.Runtime(self.logger)
        self.engine = self.runtime.deserialize_cuda_engine(engine_bytes)
        if self.engine is None:
            raise UserError("TensorRT could not deserialise the engine (other TensorRT version or GPU?); rebuild it")
        self.context = self.engine.create_execution_context()
        self.stream = _ok(self.cudart.cudaStreamCreate())
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.outputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        self.dtypes = {n: np.dtype(trt.nptype(self.engine.get_tensor_dtype(n))) for n in names}
        self._shapes: dict[str, tuple[int, ...]] | None = None
        self._device: dict[str, tuple[int, int]] = {}  # name -> (pointer, bytes)
        self._out_shapes: dict[str, tuple[int, ...]] = {}

    def _allocate(self, shapes: dict[str, tuple[int, ...]]) -> None:
        self._free()
        for name, shape in shapes.items():
            if not self.context.set_input_shape(name, shape):
                raise UserError(f"input {name!r} shape {shape} is outside the engine's optimisation profile; rebuild with wider --shapes")
        for name in self.inputs + self.outputs:
            shape = tuple(self.context.get_tensor_shape(name))
            nbytes = int(np.prod(shape)) * self.dtypes[name].itemsize
            ptr = _ok(self.cudart.cudaMalloc(max(nbytes, 1)))
            self._device[name] = (int(ptr), nbytes)
            self.context.set_tensor_address(name, int(ptr))
            if name in self.outputs:
                self._out_shapes[name] = shape
        self._shapes = shapes

    def __call__(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        cudart = self.cudart
        host = {n: np.ascontiguousarray(feeds[n], dtype=self.dtypes[n]) for n in self.inputs}
        shapes = {n: tuple(a.shape) for n, a in host.items()}
        if shapes != self._shapes:
            self._allocate(shapes)
        h2d, d2h = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        for name, arr in host.items():
            ptr, nbytes = self._device[name]
            _ok(cudart.cudaMemcpyAsync(ptr, arr.ctypes.data, nbytes, h2d, self.stream))
        if not self.context.execute_async_v3(int(self.stream)):
            raise RuntimeError("TensorRT execute_async_v3 failed")
        outs = {n: np.empty(self._out_shapes[n], self.dtypes[n]) for n in self.outputs}
        for name, arr in outs.items():
            ptr, nbytes = self._device[name]
            _ok(cudart.cudaMemcpyAsync(arr.ctypes.data, ptr, nbytes, d2h, self.stream))
        _ok(cudart.cudaStreamSynchronize(self.stream))
        return outs

    def _free(self) -> None:
        for ptr, _ in self._device.values():
            self.cudart.cudaFree(ptr)
        self._device.clear()
        self._shapes = None

    def close(self) -> None:
        self._free()
        if self.stream is not None:
            self.cudart.cudaStreamDestroy(self.stream)
            self.stream = None

    def __enter__(self) -> TrtRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

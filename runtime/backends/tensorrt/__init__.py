"""The TensorRT engine: the exported ONNX graphs built into TensorRT engines (10.x and 11.x).

Unverified (README.md, "Limits"): written to TensorRT's documented Python API and not yet
run with TensorRT. What runs without it (engine keys, choosing and refusing engines, the
one-line errors) is tested; the rest where ``tensorrt`` imports and a GPU exists.

- ``keys``    profiles, the GPU, engine keys and records, choosing a kept engine or why to build one
- ``build``   ONNX -> a strongly typed network -> a serialized engine, with the timing cache
- ``runner``  one engine and its execution context: numpy in, numpy out (cuda-python buffers)
- ``engine``  ``TensorRTEngine``: the ``Engine`` interface, engines built on first use

Torch-free. ``tensorrt``, ``onnx`` and ``cuda-python`` are imported inside functions, so this
package imports everywhere; a missing one is a one-line error naming what to install.
"""

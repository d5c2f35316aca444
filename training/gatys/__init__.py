"""Gatys et al. optimisation-based style transfer for offline stills (``stylize paint``).

Small parts, composed by ``paint.paint``:

- ``features.FeatureExtractor``: frozen VGG-19 features (normalised AdaIN VGG or torchvision);
- ``losses``: ``ContentLoss``, ``GramStyleLoss``, ``TVLoss``, ``StyleTransferLoss``;
- ``pyramid.stage_sizes``: the coarse-to-fine schedule;
- ``optim.optimise``: L-BFGS or Adam with a per-iteration callback.
"""

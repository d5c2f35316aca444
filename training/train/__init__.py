"""Training and fine-tuning the AdaIN decoder (``stylize train``; issue 8).

``loop.train(TrainConfig, Store)`` runs it; ``data`` reads image folders into random crops,
``loss`` is the paper's content and style loss, ``checkpoint`` saves and restores runs,
``distributed`` adds torchrun/DDP, ``measure`` times iterations.
"""

from stylize.training.train.loop import TrainConfig, TrainResult, train

__all__ = ["TrainConfig", "TrainResult", "train"]

"""PyTorch side: model definitions, weight import, losses, Gatys optimisation, training."""

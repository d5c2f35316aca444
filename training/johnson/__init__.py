"""Per-style feed-forward networks (Johnson et al. 2016): the network in pytorch/examples'
layout, its place behind the common interface, its losses, and ``stylize train-style``."""

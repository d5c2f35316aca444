"""Magenta arbitrary image stylisation (Ghiasi et al. 2017): PyTorch modules and TFLite import."""

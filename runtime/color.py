"""Colour preservation, in numpy (used by stills, video and the live view alike).

- ``match_color(style, content)``: the paper's colour preservation (Huang & Belongie 2017,
  section 7.2; Gatys et al. 2016): the style image's pixels are transformed so that their
  mean and covariance equal the content's before the style is encoded.
- ``keep_luminance(stylized, content)``: luminance-only transfer: the result's luma with the
  content's chroma (BT.601 YCbCr).
"""

from __future__ import annotations

import numpy as np

_RGB_TO_YCC = np.array(
    [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]], dtype=np.float32
)
_YCC_TO_RGB = np.linalg.inv(_RGB_TO_YCC).astype(np.float32)


def _sqrtm(cov: np.ndarray, inverse: bool = False) -> np.ndarray:
    vals, vecs = np.linalg.eigh(cov.astype(np.float64))
    vals = np.clip(vals, 1e-8, None)
    d = vals ** (-0.5 if inverse else 0.5)
    return (vecs * d) @ vecs.T


def match_color(style: np.ndarray, content: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """Return ``style`` (HxWx3) with the mean and covariance of ``content``'s colours."""
    s = style.reshape(-1, 3).astype(np.float64)
    c = content.reshape(-1, 3).astype(np.float64)
    mu_s, mu_c = s.mean(0), c.mean(0)
    cov_s = np.cov(s, rowvar=False) + eps * np.eye(3)
    cov_c = np.cov(c, rowvar=False) + eps * np.eye(3)
    transform = _sqrtm(cov_c) @ _sqrtm(cov_s, inverse=True)
    out = (s - mu_s) @ transform.T + mu_c
    return np.clip(out, 0.0, 1.0).reshape(style.shape).astype(np.float32)


def rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    return rgb @ _RGB_TO_YCC.T


def ycbcr_to_rgb(ycc: np.ndarray) -> np.ndarray:
    return ycc @ _YCC_TO_RGB.T


def keep_luminance(stylized: np.ndarray, content: np.ndarray) -> np.ndarray:
    """The stylised luma with the content's chroma; both HxWx3 (or NxHxWx3) of one size."""
    y = rgb_to_ycbcr(stylized)[..., :1]
    cbcr = rgb_to_ycbcr(content)[..., 1:]
    return np.clip(ycbcr_to_rgb(np.concatenate([y, cbcr], axis=-1)), 0.0, 1.0).astype(np.float32)

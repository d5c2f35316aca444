"""Colour preservation, in numpy (used by stills, video and the live view alike).

- ``match_color(style, content)``: the paper's colour preservation (Huang & Belongie 2017,
  section 7.2; Gatys et al. 2016): the style image's pixels are transformed so that their
  mean and covariance equal the content's before the style is encoded.
- ``keep_luminance(stylized, content)``: luminance-only transfer: the result's luma with the
  content's chroma (BT.601 YCbCr).
- ``ColorTransfer(source, target)``: the reverse of ``match_color`` (``--style-colors``): an
  affine map that moves a stylised result's colour mean and covariance to the style image's
  (``color_stats``, mixed styles ``mix_color_stats``).
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


# The style's colours on the result (``--style-colors``) ------------------------------------
# The reverse of ``match_color``: the stylised result's colours are moved to the style image's
# mean and covariance, by the linear map that does so while moving each colour the least (the
# Monge-Kantorovich map between the two Gaussians; Pitie & Kokaram 2007). The map is computed
# once (video: from the first stylised frame; live: again when the style changes) and applied
# to every frame as it is, so a video does not flicker.
ColorStats = tuple[np.ndarray, np.ndarray]  # mean (3,), covariance (3, 3), RGB in [0, 1]


def color_stats(rgb: np.ndarray) -> ColorStats:
    """The mean and covariance of an RGB picture's colours (floats in [0, 1], or uint8)."""
    x = rgb.reshape(-1, 3).astype(np.float64)
    if rgb.dtype == np.uint8:
        x /= 255.0
    return x.mean(0), np.cov(x, rowvar=False)


def mix_color_stats(stats: list[ColorStats], weights: list[float] | None = None) -> ColorStats:
    """The statistics of the styles' pixels pooled by ``weights`` (normalised; default equal)."""
    w = np.full(len(stats), 1.0) if weights is None else np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    mean = sum(wi * m for wi, (m, _) in zip(w, stats, strict=True))
    second = sum(wi * (c + np.outer(m, m)) for wi, (m, c) in zip(w, stats, strict=True))
    return np.asarray(mean), np.asarray(second) - np.outer(mean, mean)


class ColorTransfer:
    """An affine colour map ``x -> (x - source_mean) @ matrix.T + target_mean`` that takes
    colours with ``source`` statistics to ``target``'s; ``apply`` maps pictures (float or uint8)."""

    def __init__(self, source: ColorStats, target: ColorStats, eps: float = 1e-5) -> None:
        (mu_s, cov_s), (mu_t, cov_t) = source, target
        cov_s = cov_s + eps * np.eye(3)
        cov_t = cov_t + eps * np.eye(3)
        root_s, inv_root_s = _sqrtm(cov_s), _sqrtm(cov_s, inverse=True)
        self.matrix = inv_root_s @ _sqrtm(root_s @ cov_t @ root_s) @ inv_root_s
        self.offset = mu_t - self.matrix @ mu_s
        self._matrix_t32 = self.matrix.T.astype(np.float32)  # what ``apply`` multiplies by, every frame
        self._offset32 = self.offset.astype(np.float32)

    def apply(self, rgb: np.ndarray) -> np.ndarray:
        """``rgb`` (... x 3, float in [0, 1] or uint8) mapped; the same dtype back, clipped."""
        if rgb.dtype == np.uint8:
            x = rgb.astype(np.float32) * np.float32(1.0 / 255.0)
            out = x @ self._matrix_t32 + self._offset32
            return np.rint(np.clip(out, 0.0, 1.0) * 255.0).astype(np.uint8)
        out = rgb.astype(np.float32) @ self._matrix_t32 + self._offset32
        return np.clip(out, 0.0, 1.0).astype(np.float32)

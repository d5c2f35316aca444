"""Image I/O: channel order, grayscale, alpha, EXIF orientation, atomic saves, bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from stylize.runtime.color import keep_luminance, match_color, rgb_to_ycbcr
from stylize.runtime.errors import UserError
from stylize.runtime.images import load_image, save_image


def _red_left_blue_right(path: Path) -> None:
    arr = np.zeros((20, 30, 3), np.uint8)
    arr[:, :15, 0] = 255
    arr[:, 15:, 2] = 255
    PILImage.fromarray(arr).save(path)


def test_colour_order_survives_load_tensor_save(tmp_path: Path) -> None:
    src = tmp_path / "rb.png"
    _red_left_blue_right(src)
    img = load_image(src)
    assert img.rgb[5, 2].tolist() == [1.0, 0.0, 0.0]
    assert img.rgb[5, 25].tolist() == [0.0, 0.0, 1.0]
    torch = pytest.importorskip("torch")
    tensor = torch.from_numpy(img.rgb).permute(2, 0, 1)[None]  # the torch engine's conversion
    assert tensor[0, 0, 5, 2] == 1 and tensor[0, 2, 5, 25] == 1
    back = tensor[0].permute(1, 2, 0).numpy()
    out = tmp_path / "out.png"
    save_image(out, back)
    saved = np.asarray(PILImage.open(out))
    assert saved[5, 2].tolist() == [255, 0, 0] and saved[5, 25].tolist() == [0, 0, 255]


def test_grayscale_becomes_three_channels(data_dir: Path) -> None:
    img = load_image(data_dir / "content" / "skimage__camera.png")
    assert img.rgb.shape == (512, 512, 3) and img.was_gray
    np.testing.assert_array_equal(img.rgb[..., 0], img.rgb[..., 2])


def test_alpha_is_kept(data_dir: Path, tmp_path: Path) -> None:
    img = load_image(data_dir / "content" / "opencv__chicky_512.png")
    assert img.alpha is not None and img.alpha.shape == img.rgb.shape[:2]
    out = save_image(tmp_path / "a.png", img.rgb, img.alpha)
    again = load_image(out)
    assert again.alpha is not None
    np.testing.assert_allclose(again.alpha, img.alpha, atol=1 / 255)
    jpg = save_image(tmp_path / "a.jpg", img.rgb, img.alpha)  # JPEG has no alpha: dropped
    assert PILImage.open(jpg).mode == "RGB"


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    arr = np.zeros((10, 40, 3), np.uint8)
    im = PILImage.fromarray(arr)
    exif = im.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    path = tmp_path / "rot.jpg"
    im.save(path, exif=exif)
    assert load_image(path).rgb.shape == (40, 10, 3)


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda p: None, "not found"),
        (lambda p: p.write_bytes(b""), "empty file"),
        (lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\nnot really"), "cannot decode"),
        (lambda p: p.mkdir(), "is a folder"),
    ],
    ids=["missing", "empty", "corrupt", "folder"],
)
def test_bad_image_files(tmp_path: Path, make, message: str) -> None:  # noqa: ANN001
    p = tmp_path / "x.png"
    make(p)
    with pytest.raises(UserError, match=message):
        load_image(p)


def test_max_pixels(tmp_path: Path) -> None:
    p = tmp_path / "big.png"
    PILImage.new("RGB", (200, 100)).save(p)
    with pytest.raises(UserError, match="max-pixels"):
        load_image(p, max_pixels=500)  # an input may hold 32x the budget (runtime.budget.DECODE_RATIO)
    assert load_image(p, max_pixels=1000).size == (100, 200)


def test_interrupted_save_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*a, **k):  # noqa: ANN002, ANN003
        raise KeyboardInterrupt

    monkeypatch.setattr(PILImage.Image, "save", boom)
    with pytest.raises(KeyboardInterrupt):
        save_image(tmp_path / "x.png", np.zeros((4, 4, 3), np.float32))
    assert list(tmp_path.iterdir()) == []


def test_match_color_gives_content_statistics() -> None:
    rng = np.random.default_rng(0)
    style = rng.random((32, 32, 3)).astype(np.float32) * np.array([0.2, 0.5, 0.9], np.float32)
    content = 0.3 + 0.4 * rng.random((40, 24, 3)).astype(np.float32)
    out = match_color(style, content)
    np.testing.assert_allclose(out.reshape(-1, 3).mean(0), content.reshape(-1, 3).mean(0), atol=2e-3)
    np.testing.assert_allclose(np.cov(out.reshape(-1, 3).T), np.cov(content.reshape(-1, 3).T), atol=2e-3)


def test_keep_luminance_keeps_content_chroma() -> None:
    rng = np.random.default_rng(1)
    # colours well inside the gamut, so that no channel is clipped after recombination
    content = 0.4 + 0.2 * rng.random((16, 16, 3)).astype(np.float32)
    stylized = 0.35 + 0.3 * rng.random((16, 16, 3)).astype(np.float32)
    out = keep_luminance(stylized, content)
    np.testing.assert_allclose(rgb_to_ycbcr(out)[..., 1:], rgb_to_ycbcr(content)[..., 1:], atol=1e-4)
    np.testing.assert_allclose(rgb_to_ycbcr(out)[..., 0], rgb_to_ycbcr(stylized)[..., 0], atol=1e-4)

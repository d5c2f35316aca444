"""Tiled stills (``runtime/tiles.py``, ``stylize image --tile``): the plan, the shared
statistics, the user controls on tiles, and the option.

Random weights, torch engine on the CPU, small pictures. Tolerances (PSNR with the reference's
range as the peak, unclipped outputs, so a model whose outputs span little is not flattered):
- plan: every pixel covered; the weights sum to 1 within 1e-6;
- tiled with the whole picture's statistics vs untiled: PSNR >= 40 dB;
- the same tiles each normalised with its own statistics: at least 10 dB worse (the sharing
  is what makes tiles agree);
- masks, alpha, both colour modes and the style's colours on tiles vs untiled: PSNR >= 30 dB
  (colour statistics of a tiled picture come from a sample of its pixels).
The ONNX graphs of tiles are tested against PyTorch in ``test_export_onnx.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import one_line_error, rng_image, run_cli

from stylize.runtime.errors import UserError
from stylize.runtime.tiles import MIN_TILE, assemble, auto_side, plan_tiles, sample, stylize_tiled, thumbnail, tile_side

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module", autouse=True)
def one_thread():  # noqa: ANN201
    """One torch thread: the pictures are small, and two threads on a shared 2-core machine
    spin against each other (10x slower here under load)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def psnr(test: np.ndarray, ref: np.ndarray) -> float:
    peak = float(ref.max() - ref.min())
    mse = float(np.mean((test.astype(np.float64) - ref.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(peak * peak / mse)


# --------------------------------------------------------------------------- the plan


@pytest.mark.parametrize(
    ("height", "width", "side", "multiple", "overlap"),
    [(100, 100, 128, 8, None), (300, 420, 128, 8, None), (1080, 1920, 512, 4, None), (1001, 517, 200, 4, 48), (97, 203, 64, 8, 24)],
)
def test_plan_covers_every_pixel_and_weights_sum_to_one(height: int, width: int, side: int, multiple: int, overlap: int | None) -> None:
    plan = plan_tiles(height, width, side, multiple, overlap)
    for spans, length in ((plan.rows, height), (plan.cols, width)):
        assert spans[0][0] == 0 and spans[-1][1] == length
        for (s0, e0), (s1, e1) in zip(spans, spans[1:]):
            assert s1 % multiple == 0 and e0 - s1 >= plan.overlap  # on the grid, overlapping enough
        assert all(0 < e - s <= plan.side for s, e in spans)
    total = np.zeros((height, width), np.float64)
    for t in plan.tiles:
        total[t.y0 : t.y1, t.x0 : t.x1] += t.weight[..., 0]
    assert np.abs(total - 1.0).max() <= 1e-6


def test_weights_fade_out_before_a_tiles_inner_edge() -> None:
    """A tile's border pixels (what reflection padding disturbs) carry no weight where a neighbour covers them."""
    plan = plan_tiles(64, 400, 128, 8)
    first, second = plan.tiles[0], plan.tiles[1]
    assert second.x0 > 0 and second.wx[: plan.overlap // 4].max() == 0.0 and first.wx[-(plan.overlap // 4) :].max() == 0.0
    assert first.wx[0] == 1.0 and plan.tiles[-1].wx[-1] == 1.0  # the picture's own edges keep full weight


def test_auto_side_thumbnail_and_sample() -> None:
    assert auto_side(4_194_304, 8) == 2048 and auto_side(70_000, 4) == 264
    picture = np.zeros((300, 400, 3), np.float32)
    assert thumbnail(picture, 10**6) is picture
    assert thumbnail(picture, 30_000).shape[0] * thumbnail(picture, 30_000).shape[1] <= 30_000
    assert sample(picture, 30_000).shape[0] * sample(picture, 30_000).shape[1] <= 30_000


def test_tile_side_policy() -> None:
    assert tile_side("auto", 300, 400, 200_000, "magenta", "x") is None  # within the budget: whole
    assert tile_side("auto", 300, 400, 70_000, "magenta", "x") == 264
    assert tile_side(128, 300, 400, 10**6, "adain", "x") == 128
    assert tile_side(512, 300, 400, 10**6, "adain", "x") is None  # one tile holds it: whole
    assert tile_side("off", 3000, 4000, 1000, "adain", "x") is None  # the caller refuses it
    with pytest.raises(UserError, match="--tile 2048: tiles of .* would exceed the memory budget"):
        tile_side(2048, 3000, 4000, 1_000_000, "adain", "x")
    with pytest.raises(UserError, match=f"under {MIN_TILE} pixels a side"):
        tile_side("auto", 3000, 4000, 10_000, "adain", "x")


# --------------------------------------------------------------------------- shared statistics


def _engine(family: str):  # noqa: ANN202
    from stylize.runtime.backends.torch_backend import TorchEngine
    from stylize.runtime.models import ModelWeights
    from stylize.training.models import build_stylizer

    torch.manual_seed(0)
    if family == "adain":
        from stylize.training.adain.net import AdaINStylizer
        from stylize.training.adain.random_weights import random_adain_modules

        module = AdaINStylizer(*random_adain_modules(0))
    else:
        module = build_stylizer("magenta")
    return TorchEngine(None, ModelWeights(family, {}), device="cpu", module=module)


def scene(h: int, w: int, seed: int) -> np.ndarray:
    """A picture whose parts differ, as a photo's do (a flat sky over texture that brightens
    to the right): where each tile's own statistics would differ from the whole's."""
    texture = rng_image(h, w, seed=seed) * np.linspace(0.1, 1.0, w, dtype=np.float32)[None, :, None]
    ground = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    return np.clip(texture * ground + (1 - ground) * np.array([0.55, 0.7, 0.95], np.float32), 0.0, 1.0)


# AdaIN costs ~40x Magenta a pixel: a smaller picture for it
CASES = {"adain": ((112, 160), 80, 32), "magenta": ((160, 224), 96, 32)}


@pytest.mark.parametrize("family", ["adain", "magenta"])
def test_tiled_equals_untiled_with_shared_statistics(family: str) -> None:
    engine = _engine(family)
    (h, w), side, overlap = CASES[family]
    picture = scene(h, w, seed=1)
    vec = engine.encode_style(rng_image(64, 80, seed=2))
    for alpha in (1.0, 0.6):
        ref = engine.stylize(picture[None], vec, alpha)[0]
        tiled = stylize_tiled(engine, picture, [vec], alpha=alpha, side=side, overlap=overlap, stats_pixels=h * w)
        assert tiled.shape == ref.shape and tiled.dtype == np.float32
        shared = psnr(tiled, ref)
        plan = plan_tiles(h, w, side, 8 if family == "adain" else 4, overlap)
        assert len(plan.tiles) >= 4
        own = psnr(assemble(plan, lambda t: engine.stylize(picture[None, t.y0 : t.y1, t.x0 : t.x1], vec, alpha)[0]), ref)
        assert shared >= 40.0, (family, alpha, shared)
        assert own <= shared - 10.0, (family, alpha, shared, own)


def test_fp16_channels_last_engine_tiles() -> None:
    """The torch engine as it runs on CUDA (FP16, channels-last), here on the CPU's half kernels:
    the shared statistics stay float32 and each norm's output comes back in FP16."""
    from stylize.runtime.backends.torch_backend import TorchEngine

    engine = _engine("magenta")
    half = TorchEngine(None, engine.weights, device="cpu", module=engine.module, precision="fp16", channels_last=True)
    (h, w), side, overlap = CASES["magenta"]
    picture = scene(h, w, seed=2)
    vec = half.encode_style(rng_image(64, 80, seed=2))
    ref = half.stylize(picture[None], vec, 0.7)[0]
    tiled = stylize_tiled(half, picture, [vec], alpha=0.7, side=side, overlap=overlap, stats_pixels=h * w)
    assert tiled.dtype == np.float32 and psnr(tiled, ref) >= 40.0


@pytest.mark.parametrize("family", ["adain", "magenta"])
def test_masks_on_tiles_match_untiled(family: str) -> None:
    engine = _engine(family)
    (h, w), side, overlap = CASES[family]
    picture = scene(h, w, seed=3)
    vecs = [engine.encode_style(rng_image(64, 80, seed=s)) for s in (4, 5)]
    left = np.zeros((h, w), np.float32)
    left[:, : w // 2] = 1.0
    masks = np.stack([left, 1.0 - left])
    ref = engine.stylize_regions(picture, vecs, masks, 0.7)
    tiled = stylize_tiled(engine, picture, vecs, alpha=0.7, side=side, overlap=overlap, stats_pixels=h * w, masks=masks)
    assert psnr(tiled, ref) >= 40.0, (family, psnr(tiled, ref))


# --------------------------------------------------------------------------- through the API and the command line


@pytest.fixture(scope="module")
def magenta_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with random Magenta weights (cheap: the tiles tests need no pretty pictures)."""
    from stylize.runtime.store import Store
    from stylize.training.models import build_stylizer

    home = tmp_path_factory.mktemp("tiles_store")
    torch.manual_seed(1)
    magenta = build_stylizer("magenta")
    for role, module in (("predictor", magenta.predictor), ("transformer", magenta.transformer)):
        Store(home).put_weights(f"magenta-{role}", {k: v.detach().numpy() for k, v in module.state_dict().items()}, layout=f"magenta_{role}")
    return home


@pytest.fixture(scope="module")
def stylizer(magenta_home: Path):  # noqa: ANN201
    from stylize import Stylizer

    return Stylizer(model="magenta", home=magenta_home, backend="torch", device="cpu")


def test_user_controls_on_tiles_match_untiled(stylizer) -> None:  # noqa: ANN001
    """Masks, alpha, both colour modes and the style's colours, tiled (--tile 128) vs whole."""
    content, style, style2 = rng_image(240, 320, seed=6), rng_image(96, 96, seed=7), rng_image(96, 96, seed=8)
    left = np.zeros((240, 320), np.float32)
    left[:, :160] = 1.0
    cases = {
        "alpha": {"alpha": 0.5},
        "masks": {"style": [style, style2], "masks": [left, 1.0 - left], "alpha": 0.8},
        "color": {"preserve_color": "color"},
        "luminance": {"preserve_color": "luminance"},
        "style_colors": {"style_colors": True},
    }
    for name, kw in cases.items():
        kw = {"style": style, **kw}
        whole = stylizer.image(content, tile="off", progress=False, **kw).rgb
        tiled = stylizer.image(content, tile=128, progress=False, **kw).rgb
        assert tiled.shape == whole.shape == (240, 320, 3) and 0.0 <= tiled.min() and tiled.max() <= 1.0
        assert psnr(tiled, whole) >= 30.0, (name, psnr(tiled, whole))


def test_above_the_budget_tiles_automatically_and_off_refuses(stylizer) -> None:  # noqa: ANN001
    content, style = rng_image(300, 400, seed=9), rng_image(96, 96, seed=10)
    budget = 70_000  # the 256 x 256 style fits, the 120,000-pixel picture does not
    out = stylizer.image(content, style, size="keep", max_pixels=budget, progress=False)
    assert out.rgb.shape == (300, 400, 3)
    whole = stylizer.image(content, style, size="keep", progress=False)
    assert psnr(out.rgb, whole.rgb) >= 30.0  # statistics from a copy reduced to the budget
    with pytest.raises(UserError, match=r"exceed the memory budget.*--tile auto"):
        stylizer.image(content, style, size="keep", max_pixels=budget, tile="off")


def test_cli_tile_option(magenta_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from PIL import Image as PILImage

    content, style = tmp_path / "c.png", tmp_path / "s.png"
    PILImage.fromarray((rng_image(200, 280, seed=11) * 255).astype(np.uint8)).save(content)
    PILImage.fromarray((rng_image(96, 96, seed=12) * 255).astype(np.uint8)).save(style)
    out = tmp_path / "o.png"
    base = ["--home", magenta_home, "--backend", "torch", "-q", "image", content, "--style", style, "-o", out]
    assert run_cli(capsys, *base, "--tile", "128")[0] == 0
    assert PILImage.open(out).size == (280, 200)
    for bad in ("64", "big", "1.5"):
        code, _, err = run_cli(capsys, *base, "--tile", bad)
        assert code == 2 and "--tile" in one_line_error(err) and f"tile side of {MIN_TILE}" in err
    code, _, err = run_cli(capsys, *base, "--tile", "off", "--size", "400", "--max-pixels", "70000")
    assert code == 2 and "--tile auto" in one_line_error(err)

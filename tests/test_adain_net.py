"""The AdaIN network at shape and numeric level, random weights in the official layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from stylize.runtime.errors import UserError  # noqa: E402
from stylize.runtime.models import mix_styles  # noqa: E402
from stylize.training.adain.net import (  # noqa: E402
    LAYERS,
    AdaINStylizer,
    adain,
    build_decoder,
    build_vgg,
    calc_mean_std,
    style_vector,
    vgg_features,
)
from stylize.training.weights_io import read_weights_file  # noqa: E402


@pytest.fixture(scope="module")
def net() -> AdaINStylizer:
    from stylize.training.adain.random_weights import random_adain_modules

    return AdaINStylizer(*random_adain_modules(seed=0)).eval()


def test_release_layout_loads_strictly(adain_files: tuple[Path, Path]) -> None:
    vgg_path, dec_path = adain_files
    vgg, dec = build_vgg(), build_decoder()
    assert len(vgg) == 53 and len(dec) == 29
    vgg.load_state_dict(torch.load(vgg_path, weights_only=True), strict=True)
    dec.load_state_dict(torch.load(dec_path, weights_only=True), strict=True)
    assert read_weights_file(vgg_path)[0] == "adain_vgg"
    assert read_weights_file(dec_path)[0] == "adain_decoder"


def test_wrong_shape_is_refused_naming_the_key(adain_files: tuple[Path, Path], tmp_path: Path) -> None:
    state = torch.load(adain_files[1], weights_only=True)
    state["14.weight"] = torch.zeros(128, 256, 3, 1)
    bad = tmp_path / "decoder_bad.pth"
    torch.save(state, bad)
    with pytest.raises(UserError, match=r"'14\.weight' has shape \(128, 256, 3, 1\), expected \(128, 256, 3, 3\)"):
        read_weights_file(bad)


def test_named_layers_are_relus() -> None:
    vgg = build_vgg()
    for name, index in LAYERS.items():
        assert isinstance(vgg[index], torch.nn.ReLU), name
    feats = vgg_features(vgg, torch.rand(1, 3, 32, 32), ["relu1_1", "relu4_1", "relu4_2", "relu5_1"])
    assert feats["relu1_1"].shape == (1, 64, 32, 32)
    assert feats["relu4_1"].shape == (1, 512, 4, 4)
    assert feats["relu5_1"].shape == (1, 512, 2, 2)


def test_adain_output_has_the_style_statistics() -> None:
    g = torch.Generator().manual_seed(1)
    content = torch.randn(2, 512, 9, 13, generator=g) * 3 + 1
    style = style_vector(torch.randn(1, 512, 7, 5, generator=g) * 5 - 2)
    out = adain(content, style)
    mean, std = calc_mean_std(out)
    torch.testing.assert_close(mean, style[:, 0].expand_as(mean), atol=1e-4, rtol=0)
    # std includes eps inside the sqrt on both sides, as in the reference
    torch.testing.assert_close(std, style[:, 1].expand_as(std), atol=1e-4, rtol=0)


def test_alpha_zero_is_decoder_of_encoder(net: AdaINStylizer) -> None:
    x = torch.rand(1, 3, 64, 48)
    style = net.encode_style(torch.rand(1, 3, 64, 64))
    with torch.no_grad():
        got = net(x, style, 0.0)
        expected = net.decoder(net.encoder(x))
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_alpha_mixes_features_linearly(net: AdaINStylizer) -> None:
    x = torch.rand(1, 3, 32, 32)
    style = net.encode_style(torch.rand(1, 3, 48, 48))
    with torch.no_grad():
        feat = net.encoder(x)
        expected = net.decoder(0.3 * adain(feat, style) + 0.7 * feat)
        got = net(x, style, 0.3)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_interpolation_is_adain_with_mixed_statistics(net: AdaINStylizer) -> None:
    x = torch.rand(1, 3, 40, 40)
    with torch.no_grad():
        s1 = net.encode_style(torch.rand(1, 3, 40, 40))[0].numpy()
        s2 = net.encode_style(torch.rand(1, 3, 40, 40) * 0.5)[0].numpy()
    single = mix_styles([s1, s2], [1.0, 0.0])
    np.testing.assert_array_equal(single, s1)
    mixed = torch.from_numpy(mix_styles([s1, s2], [0.7, 0.3]))[None]
    with torch.no_grad():
        feat = net.encoder(x)
        paper = 0.7 * adain(feat, torch.from_numpy(s1)[None]) + 0.3 * adain(feat, torch.from_numpy(s2)[None])
        torch.testing.assert_close(adain(feat, mixed), paper, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("h,w", [(250, 333), (64, 64), (17, 31)])
def test_output_has_the_input_size(net: AdaINStylizer, h: int, w: int) -> None:
    style = net.encode_style(torch.rand(1, 3, 32, 32))
    with torch.no_grad():
        out = net(torch.rand(1, 3, h, w), style, 1.0)
    assert out.shape == (1, 3, h, w)
    assert torch.isfinite(out).all()


def test_regions_with_one_full_mask_equal_that_style(net: AdaINStylizer) -> None:
    x = torch.rand(1, 3, 48, 64)
    s = torch.cat([net.encode_style(torch.rand(1, 3, 32, 32)), net.encode_style(torch.rand(1, 3, 32, 32) ** 2)])
    masks = torch.zeros(2, 48, 64)
    masks[1] = 1
    with torch.no_grad():
        torch.testing.assert_close(net.forward_regions(x, s, masks), net(x, s[1:2]), atol=1e-5, rtol=1e-5)
        half = masks.clone()
        half[0, :, :32], half[1, :, :32] = 1, 0
        out = net.forward_regions(x, s, half)
    assert out.shape == (1, 3, 48, 64)

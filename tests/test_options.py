"""One home for every option: each shared option is parsed, defaulted and refused the same way
in every command that has it, and the API refuses the same values with the same words."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
from conftest import one_line_error, run_cli

from stylize.cli import build_parser
from stylize.options import GLOBAL, OPTIONS

# the least each command needs to parse, with the option under test added after it
MINIMAL = {
    "image": ["image", "c.png", "--style", "s.png", "-o", "o.png"],
    "video": ["video", "in.mp4", "--style", "s.png", "-o", "o.mp4"],
    "live": ["live", "--style", "s.png"],
    "paint": ["paint", "c.png", "--style", "s.png", "-o", "o.png"],
    "export": ["export", "--model", "adain"],
    "build-engine": ["build-engine", "--model", "adain", "--shapes", "16x16:16x16:16x16"],
    "train": ["train"],
    "train-style": ["train-style"],
    "bench": ["bench"],
    "flicker": ["flicker", "a.mp4", "b.mp4"],
    "weights": ["weights", "list"],
}
GOOD = {
    "alpha": ["0", "0.25", "1"],
    "size": ["auto", "keep", "0", "16", "480"],
    "temporal": ["off", "on", "strong"],
    "preserve_color": ["color", "luminance"],
    "style_weights": ["1", "0.7,0.3"],
    "max_pixels": ["1000", "4e7"],
    "batch": ["1", "8"],
    "crf": ["0", "18.5"],
    "preset": ["ultrafast", "medium"],
    "fps": ["25", "29.97"],
    "backend": ["auto", "torch", "onnxruntime", "tensorrt"],
    "device": ["auto", "cpu", "cuda", "cuda:1"],
    "model": ["adain", "magenta"],
    "style_size": ["64", "512"],
    "tile": ["auto", "off", "128", "2048"],
    "ray": ["local", "auto", "ray://10.0.0.1:10001", "10.0.0.1:6379"],
    "segment": ["0.5", "20"],
    "worker_cpus": ["1", "4"],
}
BAD = {
    "alpha": ["1.5", "-0.1", "nan", "inf", "x"],
    "size": ["8", "-1", "big", "nan", "inf"],
    "temporal": ["maybe"],
    "preserve_color": ["colour"],
    "style_weights": ["a,b", "-1,2", "0,0", "nan,1", "inf,1"],
    "max_pixels": ["0", "nan", "inf", "-inf", "-5", "many"],
    "batch": ["0", "1.5", "x", "nan", "inf"],
    "crf": ["-1", "nan", "inf", "70"],
    "preset": ["warp"],
    "fps": ["0", "-25", "inf", "nan", "1e9"],
    "backend": ["tensorflow"],
    "device": ["gpu", "cuda:x", "cpu:0"],
    "model": ["vgg"],
    "style_size": ["8", "x", "nan", "100000"],
    "graphs": ["no/such/folder"],
    "tile": ["64", "x", "nan", "-1", "1.5", "100000"],
    "ray": ["", "two words"],
    "segment": ["0", "-1", "nan", "inf", "x"],
    "worker_cpus": ["0", "1.5", "x", "nan"],
}


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _flags(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {flag: a for a in parser._actions for flag in a.option_strings}


def test_shared_options_are_declared_once() -> None:
    """Every command that has a shared option's flag got it from the one record: the same
    destination, parser, default and help."""
    commands = _subparsers(build_parser())
    seen = {}
    for name, sub in commands.items():
        flags = _flags(sub)
        for key, option in OPTIONS.items():
            action = flags.get(option.flag)
            if action is None:
                continue
            seen.setdefault(key, []).append(name)
            assert action.dest == option.dest, (name, key)
            expected_default = argparse.SUPPRESS if key in GLOBAL else option.default
            assert action.default == expected_default, (name, key, action.default)
            if key not in GLOBAL or action.help != argparse.SUPPRESS:
                assert action.help == option.help, (name, key)
            if option.parse is not None and action.type is not None:
                assert action.type.__name__ == option.dest, (name, key)
    for key in ("alpha", "size", "style", "preserve_color", "model", "weights"):
        assert {"image", "video", "live"} <= set(seen[key]) or key in ("weights",) and {"image", "video", "live", "export"} <= set(seen[key]), (key, seen[key])
    for key in GLOBAL:
        assert set(seen[key]) == set(commands), (key, set(commands) - set(seen[key]))


def test_the_stylising_commands_share_every_common_flag() -> None:
    """A flag that two of image, video and live have is one shared record (no look-alikes)."""
    commands = _subparsers(build_parser())
    shared_flags = {o.flag for o in OPTIONS.values()} | {f for o in OPTIONS.values() for f in o.flags}
    per = {name: set(_flags(commands[name])) for name in ("image", "video", "live")}
    common = (per["image"] & per["video"]) | (per["image"] & per["live"]) | (per["video"] & per["live"])
    assert common - {"-h", "--help", "-o", "--output"} <= shared_flags, common - shared_flags


@pytest.mark.parametrize("key", sorted(GOOD))
def test_each_option_parses_and_refuses_alike_in_every_command(key: str) -> None:
    parser = build_parser()
    option = OPTIONS[key]
    users = [c for c, sub in _subparsers(parser).items() if option.flag in _flags(sub)]
    assert users, key
    for value in GOOD[key]:
        parsed = {c: getattr(parser.parse_args([*MINIMAL[c], f"{option.flag}={value}"]), option.dest) for c in users}
        assert len({repr(v) for v in parsed.values()}) == 1, (key, value, parsed)
        assert parsed[users[0]] == option.parse(value)
    for value in BAD[key]:
        errors = set()
        for c in users:
            with pytest.raises(SystemExit) as stop:
                parser.parse_args([*MINIMAL[c], f"{option.flag}={value}"])
            assert stop.value.code == 2
            errors.add(c)
        assert errors == set(users)


@pytest.mark.parametrize("key", sorted(BAD))
def test_the_api_refuses_what_the_command_line_refuses_with_the_same_words(key: str, capsys: pytest.CaptureFixture[str]) -> None:
    from stylize.options import check
    from stylize.runtime.errors import UserError

    option = OPTIONS[key]
    command = next(c for c, sub in _subparsers(build_parser()).items() if option.flag in _flags(sub) and c in MINIMAL)
    for value in BAD[key]:
        code, _, err = run_cli(capsys, *MINIMAL[command], f"{option.flag}={value}")
        line = one_line_error(err)
        assert code == 2
        with pytest.raises(UserError) as refused:
            check(key, value)
        reason = str(refused.value).split(": ", 1)[1]
        assert reason in line, (key, value, line, reason)


def test_graphs_folder_is_parsed_and_refused_alike(tmp_path) -> None:  # noqa: ANN001
    """--graphs takes a folder holding both graphs, in image, video and live and in the API."""
    from stylize.options import check
    from stylize.runtime.errors import UserError

    parser = build_parser()
    folder = tmp_path / "graphs"
    folder.mkdir()
    (folder / "style_encoder.onnx").write_bytes(b"")
    for command in ("image", "video", "live"):
        with pytest.raises(SystemExit):
            parser.parse_args([*MINIMAL[command], "--graphs", str(folder)])  # stylizer.onnx missing
    with pytest.raises(UserError, match="graphs: stylizer.onnx not found in"):
        check("graphs", folder)
    (folder / "stylizer.onnx").write_bytes(b"")
    for command in ("image", "video", "live"):
        assert parser.parse_args([*MINIMAL[command], "--graphs", str(folder)]).graphs == folder
    assert check("graphs", str(folder)) == folder and check("graphs", None) is None


def test_global_options_before_or_after_the_command(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: ANN001
    parser = build_parser()
    before = parser.parse_args(["--home", str(tmp_path), "--backend", "torch", "-q", *MINIMAL["image"]])
    after = parser.parse_args([*MINIMAL["image"], "--home", str(tmp_path), "--backend", "torch", "-q"])
    assert (before.home, before.backend, before.quiet) == (after.home, after.backend, after.quiet) == (tmp_path, "torch", True)
    assert run_cli(capsys, "--home", str(tmp_path), "weights", "list")[0] == 0
    assert run_cli(capsys, "weights", "list", "--home", str(tmp_path))[0] == 0
    code, _, err = run_cli(capsys, "weights", "list", "--backend", "torch")
    assert code == 2 and "--backend does not apply to `stylize weights`" in one_line_error(err)


def test_argparse_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "image", "c.png", "--style", "s.png")  # no -o
    assert code == 2 and "required" in one_line_error(err)
    code, _, err = run_cli(capsys, "image", "c.png", "--style", "s.png", "-o", "o.png", "--alpha", "2")
    assert code == 2 and "--alpha" in one_line_error(err)


def test_size_means_the_same_in_every_command() -> None:
    from stylize.options import AUTO_SIDE, side_for

    for command, limit in AUTO_SIDE.items():
        assert side_for("auto", 320, 240, command) is None or limit < 240  # small inputs keep their size
        assert side_for("auto", 8000, 4000, command) == limit  # large ones come down to the limit
        assert side_for("keep", 8000, 4000, command) is None
        assert side_for(480, 320, 240, command) == 480  # a number scales, up or down
    assert np.isclose(OPTIONS["alpha"].default, 1.0) and OPTIONS["temporal"].default == "on"

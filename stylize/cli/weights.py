"""``stylize weights``: import, download and list model weights in the store."""

from __future__ import annotations

import argparse
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from stylize.cli.common import add_globals, command
from stylize.options import arg_type, number_in
from stylize.runtime.errors import UserError
from stylize.runtime.files import atomic_output
from stylize.runtime.store import Store, make_folder
from stylize.training.weights_io import import_weights

# The pytorch-AdaIN release files (naoto0804/pytorch-AdaIN, release v0.0.0).
OFFICIAL_URLS = {
    "vgg_normalised.pth": "https://github.com/naoto0804/pytorch-AdaIN/releases/download/v0.0.0/vgg_normalised.pth",
    "decoder.pth": "https://github.com/naoto0804/pytorch-AdaIN/releases/download/v0.0.0/decoder.pth",
}


def register(sub: argparse._SubParsersAction) -> None:
    p = command(sub, "weights", help="import, download or list model weights", description="Manage model weights in the store.")
    wsub = p.add_subparsers(dest="weights_command", metavar="ACTION", required=True, parser_class=type(p))

    imp = wsub.add_parser(
        "import",
        help="import weights files (.pth, .safetensors, .tflite), recognised by their layout",
        description="Import weights files into the store. The layout is recognised from the keys and shapes "
        "(AdaIN vgg_normalised.pth / decoder.pth, Magenta style_predict / style_transfer .tflite, pytorch/examples "
        "fast_neural_style networks such as mosaic.pth, named after their file) and checked key by key; the store "
        "keeps them as safetensors with their SHA-256.",
    )
    imp.add_argument("files", nargs="+", type=Path)
    imp.add_argument("--name", help="store name (one file only; default from the layout, e.g. adain-decoder)")
    add_globals(imp, ())
    imp.set_defaults(func=run_import)

    dl = wsub.add_parser(
        "download",
        help="download the official AdaIN weights (needs internet)",
        description="Download vgg_normalised.pth and decoder.pth from the pytorch-AdaIN release page and import them.",
    )
    dl.add_argument("--timeout", type=arg_type(number_in(above=0), "timeout"), default=30.0, help="seconds per connection attempt (default 30)")
    add_globals(dl, ())
    dl.set_defaults(func=run_download)

    ls = wsub.add_parser("list", help="list the weights in the store", description="List the weights in the store.")
    add_globals(ls, ())
    ls.set_defaults(func=run_list)


def run_import(args: argparse.Namespace) -> int:
    if args.name and len(args.files) != 1:
        raise UserError("--name applies to one file at a time")
    store = Store(args.home)
    for f in args.files:
        record = import_weights(store, f, args.name)
        print(f"imported {f} as {record.name} ({record.layout}, sha256 {record.sha256[:12]}) into {store.root}")
    return 0


def run_download(args: argparse.Namespace) -> int:
    store = Store(args.home)
    folder = make_folder(store.root / "downloads")
    files = []
    for filename, url in OFFICIAL_URLS.items():
        target = folder / filename
        try:
            with urllib.request.urlopen(url, timeout=args.timeout) as response, atomic_output(target) as tmp:
                total = int(response.headers.get("Content-Length") or 0) or None
                with open(tmp, "wb") as f, tqdm(total=total, unit="B", unit_scale=True, desc=filename, disable=args.quiet) as bar:
                    while chunk := response.read(1 << 20):
                        f.write(chunk)
                        bar.update(len(chunk))
        except (urllib.error.URLError, TimeoutError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise UserError(
                f"cannot download {url} ({reason}); offline? fetch vgg_normalised.pth and decoder.pth from the "
                "pytorch-AdaIN release page on another machine, then run `stylize weights import FILE...`"
            ) from None
        files.append(target)
    args.files, args.name = files, None
    return run_import(args)


def run_list(args: argparse.Namespace) -> int:
    store = Store(args.home)
    records = store.list_weights()
    if not records:
        print(f"no weights in {store.root}; use `stylize weights import FILE...` or `stylize weights download`")
        return 0
    print(f"{'name':<24} {'layout':<20} {'sha256':<14} {'MB':>7}  source")
    for r in records:
        size = r.path.stat().st_size / 1e6 if r.path.exists() else 0.0
        style = f" (style {r.style})" if r.style else ""
        print(f"{r.name:<24} {r.layout:<20} {r.sha256[:12]:<14} {size:7.1f}  {r.source}{style}")
    return 0

"""Time training iterations: the median over a few, after warm-up.

    python -m stylize.training.train.measure [--size 256] [--batch 8] [--iters 3] [--warmup 1]
                                     [--device auto] [--amp/--no-amp] [--content DIR --style DIR]

One iteration is what ``stylize train`` does per step: encode content and style, AdaIN,
decode, encode the output, the content and style losses, backward through encoder and
decoder, an Adam step. Random weights in the official layout (speed does not depend on the
values). Without ``--content``/``--style`` the batches are random tensors already in memory
(compute only); with them, batches come from the DataLoader as in training.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from stylize.training.adain.random_weights import random_adain_modules
from stylize.training.train.distributed import pick_device
from stylize.training.train.loss import VGGEncoder, adain_losses


def measure(
    size: int = 256, batch: int = 8, iters: int = 3, warmup: int = 1, device: str = "auto", amp: bool | None = None,
    content: str | None = None, style: str | None = None, workers: int = 2,
) -> dict[str, object]:  # fmt: skip
    dev = pick_device(device)
    amp = dev.type == "cuda" if amp is None else amp
    vgg, decoder = random_adain_modules(0)
    encoder = VGGEncoder(vgg).to(dev)
    decoder = decoder.to(dev).train()
    optimizer = torch.optim.Adam(decoder.parameters(), lr=1e-4)
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    if content and style:
        from stylize.training.train.data import make_loader, scan_images

        kw = dict(batch=batch, load_size=max(512, size), crop=size, seed=0, workers=workers, pin_memory=dev.type == "cuda")
        citer = iter(make_loader(scan_images(content), stream=0, **kw))
        siter = iter(make_loader(scan_images(style), stream=1, **kw))

        def batches() -> tuple[torch.Tensor, torch.Tensor]:
            return next(citer)[0].to(dev), next(siter)[0].to(dev)
    else:
        g = torch.Generator().manual_seed(0)
        fixed = (torch.rand(batch, 3, size, size, generator=g).to(dev), torch.rand(batch, 3, size, size, generator=g).to(dev))

        def batches() -> tuple[torch.Tensor, torch.Tensor]:
            return fixed

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize()

    times = []
    for i in range(warmup + iters):
        sync()
        t = time.perf_counter()
        c, s = batches()
        with torch.autocast(dev.type, dtype=torch.float16, enabled=amp):
            loss_c, loss_s = adain_losses(encoder, decoder, c, s)
            loss = loss_c + 10.0 * loss_s
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        sync()
        if i >= warmup:
            times.append(time.perf_counter() - t)
    med = statistics.median(times)
    return {
        "device": str(dev) if dev.type != "cuda" else torch.cuda.get_device_name(dev),
        "size": size, "batch": batch, "amp": amp, "threads": torch.get_num_threads(), "data": "folders" if content else "in memory",
        "seconds_per_iter": [round(x, 3) for x in times], "median_s_per_iter": round(med, 3),
        "it_per_s": round(1.0 / med, 4), "images_per_s": round(batch / med, 3), "torch": torch.__version__,
    }  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--device", default="auto")
    p.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--content")
    p.add_argument("--style")
    p.add_argument("--workers", type=int, default=2)
    a = p.parse_args()
    r = measure(a.size, a.batch, a.iters, a.warmup, a.device, a.amp, a.content, a.style, a.workers)
    print(json.dumps(r))
    print(f"{r['it_per_s']} it/s ({r['median_s_per_iter']} s/it median of {a.iters}) at {a.size} px, batch {a.batch}, {r['device']}")


if __name__ == "__main__":
    main()

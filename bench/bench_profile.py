"""Invariance-profile benchmark: a torchvision model at its input size over the 18 transformations.

    nice -n 10 python bench/bench_profile.py                      # ResNet-50, 224 px, 1000 pairs
    nice -n 10 python bench/bench_profile.py --pairs 100          # a measured fraction
    python bench/bench_profile.py --model resnet18 --size 64 --pairs 50 --chunk-size 32

The profile runs in a fresh child process, so its peak RSS (``ru_maxrss``) is the profile's own.
Weights are random (seeded): a trained network costs the same. With ``--pairs`` below the target
(``--target-pairs``, default 1000) the time is extrapolated linearly in the number of images for
rendering and the model (each image costs the same whatever N), plus the metrics measured at the
target N on random features of the model's width (CKA, relative invariance, sens and the curves
are the only parts that are not linear in N), and the output says so.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

from _common import machine


def child(cfg: dict) -> dict:
    import numpy as np
    import torch

    from invtransfer.embedders import load_embedder
    from invtransfer.profile import ProfileOptions, profile_model, sens_curve
    from invtransfer.sensitivity import sens
    from invtransfer.similarity import linear_cka, relative_invariance

    torch.set_num_threads(cfg["threads"])
    emb = load_embedder(
        f"torchvision:{cfg['model']}", random_init=0, input_size=cfg["size"], device="cpu"
    )
    options = ProfileOptions(n_pairs=cfg["pairs"], chunk_size=cfg["chunk_size"])
    t0 = time.perf_counter()
    result = profile_model(emb, options)
    wall = time.perf_counter() - t0
    # the non-linear part at the target N: the metrics on features of the model's width
    dim = int(result.info["model"]["feature_dim"])
    gen = np.random.default_rng(0)
    n = cfg["target_pairs"]
    fa = gen.normal(size=(n, dim)).astype(np.float32)
    fb = fa + gen.normal(size=(n, dim)).astype(np.float32)
    t1 = time.perf_counter()
    sens(fa, fb)
    relative_invariance(fa, fb)
    linear_cka(fa, fb)
    sens_curve(fa, fb, gen.uniform(size=n), discrete=False)
    metrics_target = time.perf_counter() - t1
    return {
        "wall_s": wall,
        "render_s": result.info["timing"]["render_s"],
        "model_s": result.info["timing"]["model_s"],
        "images": result.info["timing"]["images"],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "feature_dim": dim,
        "metrics_per_transform_at_target_s": metrics_target,
        "transforms": len(result.table),
        "sens_mean": float(result.table["sens"].mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--pairs", type=int, default=1000, help="twin pairs measured")
    parser.add_argument("--target-pairs", type=int, default=1000, help="twin pairs reported")
    parser.add_argument("--chunk-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    cfg = {"model": args.model, "size": args.size, "pairs": args.pairs,
           "target_pairs": args.target_pairs, "chunk_size": args.chunk_size,
           "threads": args.threads}  # fmt: skip
    print(f"# machine: {machine()}")
    print(f"# {json.dumps(cfg)}")
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(
            [sys.executable, __file__, "--child", json.dumps(cfg)],
            capture_output=True, text=True, check=False, cwd=tmp,
        )  # fmt: skip
    if proc.returncode != 0:
        sys.exit(f"profile child failed\n{proc.stderr[-4000:]}")
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    load = os.getloadavg()[0]
    per_image = (r["render_s"] + r["model_s"]) / r["images"]
    print(
        f"measured: {r['transforms']} transformations × {args.pairs} pairs = {r['images']} images "
        f"at {args.size} px in {r['wall_s']:.0f} s ({r['images'] / r['wall_s']:.1f} img/s; "
        f"render {r['render_s']:.0f} s, model {r['model_s']:.0f} s), peak RSS "
        f"{r['peak_rss_mb']:.0f} MB, feature dim {r['feature_dim']}; load average {load:.1f} "
        "at the end"
    )
    if args.pairs != args.target_pairs:
        images = 2 * args.target_pairs * r["transforms"]
        overhead = r["wall_s"] - r["render_s"] - r["model_s"]  # plans, metrics at this N
        estimate = (
            per_image * images + r["transforms"] * r["metrics_per_transform_at_target_s"] + overhead
        )
        extra_mb = 2 * (args.target_pairs - args.pairs) * r["feature_dim"] * 4 / 2**20
        print(
            f"EXTRAPOLATED to {args.target_pairs} pairs ({images} images): about "
            f"{estimate / 60:.0f} min ({per_image * 1000:.0f} ms per image rendered and embedded, "
            f"+ metrics {r['metrics_per_transform_at_target_s']:.2f} s per transformation at "
            f"N={args.target_pairs}); peak RSS about {r['peak_rss_mb'] + extra_mb:.0f} MB "
            f"(+{extra_mb:.0f} MB of features)"
        )
    print(json.dumps(r))


if __name__ == "__main__":
    main()

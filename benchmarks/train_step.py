"""Benchmark the zeroth-order training step on a tiny OPT model.

Prints steps per second, prompt tokens per second (two forward passes per
direction) and peak memory for the SST-2 loss. Uses the real SST-2 rows beside
the repository (shared/data/sst2) when present, otherwise the shipped demo data.

    python benchmarks/train_step.py [--model tiny:opt-medium] [--track ft] [--num-train 1000] [--steps 20]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from paczero import zo
from paczero.models import prepare_model
from paczero.tasks import get_task
from paczero.train import _peak_memory_mb

SHARED_SST2 = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sst2"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny:opt-small", help="model source (default: %(default)s)")
    parser.add_argument("--track", default="ft", choices=["ft", "lora"], help="training track (default: %(default)s)")
    parser.add_argument("--num-train", type=int, default=1000, help="training examples per step (default: %(default)s)")
    parser.add_argument("--micro-batch", type=int, default=64, help="examples per forward pass (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps (default: %(default)s)")
    parser.add_argument("--dtype", default="float32", help="model dtype (default: %(default)s)")
    args = parser.parse_args()

    data = str(SHARED_SST2) if (SHARED_SST2 / "train.tsv").is_file() else "demo"
    recipe = dict(data=data, num_train=args.num_train, num_dev=0, num_eval=0, data_seed=0, micro_batch=args.micro_batch)
    task = get_task("sst2")
    splits = task.load(recipe)
    loaded = prepare_model(args.model, args.track, dtype=args.dtype)
    prepared = task.prepare(loaded.tokenizer, splits.train, recipe)
    padded = sum(b.input_ids.numel() for b in prepared.batches)

    def losses():
        return task.example_losses(loaded.model, loaded.tokenizer, prepared)

    zo.two_point_losses(loaded.trainable, 0, 1e-3, losses)  # warm-up
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    for _ in range(args.steps):
        seed = int(rng.integers(2**31 - 1))
        zo.two_point_losses(loaded.trainable, seed, 1e-3, losses)
        zo.update(loaded.trainable, seed, 1.0, 1e-7)
    elapsed = time.perf_counter() - started
    device = next(loaded.model.parameters()).device
    print(f"data: {data}; model {args.model} ({args.track}, {loaded.num_trainable} trainable parameters) on {device}")
    print(f"examples per step: {len(splits.train)}; prompt tokens {prepared.num_tokens}, padded tokens {padded} "
          f"(padding overhead {padded / prepared.num_tokens - 1:.1%})")
    print(f"steps per second: {args.steps / elapsed:.2f}")
    print(f"prompt tokens per second: {2 * prepared.num_tokens * args.steps / elapsed:.0f}")
    print(f"peak memory: {_peak_memory_mb(device):.0f} MB")


if __name__ == "__main__":
    main()

"""Time the SQuAD training loss (`example_losses`: greedy generation and F1) on one model.

Command, from the repository root:

    PYTHONPATH=$PWD python benchmarks/squad_loss.py --num-train 64 --micro-batch 16

It reads SQuAD rows from `--data`. The default is the folder
`shared/data/squad` next to the repository, or the shipped demo data when that
folder is absent. It prepares `--num-train` training examples and runs
`example_losses` once to warm up and then `--repeats` times. It prints
generated tokens per second, examples per second and peak memory. A ZO step
costs two such calls. The tiny models have random weights and rarely emit a
newline, so their rows run to `--max-new-tokens`: the slowest case.
Nothing is asserted.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import torch

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY))

from paczero.models import prepare_model  # noqa: E402
from paczero.tasks import get_task, squad  # noqa: E402

DEFAULT_REAL_DATA = REPOSITORY.parent / "shared" / "data" / "squad"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--model", default="tiny:opt-small", help="model source (tiny spec, folder or Hub id)")
    parser.add_argument("--track", default="ft", choices=["ft", "lora"])
    parser.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])
    parser.add_argument("--device", default=None, help="torch device; default cuda when available, else cpu")
    parser.add_argument("--data", default=None, help="SQuAD folder, 'demo' or 'hub'")
    parser.add_argument("--num-train", type=int, default=64, help="training examples per example_losses call")
    parser.add_argument("--micro-batch", type=int, default=16, help="examples per generate call")
    parser.add_argument("--max-new-tokens", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3, help="timed example_losses calls after one warm-up")
    parser.add_argument("--seed", type=int, default=0, help="data seed of the sampled examples")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads; default: torch's choice")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    data = args.data or (str(DEFAULT_REAL_DATA) if (DEFAULT_REAL_DATA / "dev-v1.1.json").is_file() else "demo")
    recipe = {
        "data": data,
        "num_train": args.num_train,
        "num_dev": 0,
        "num_eval": 0,
        "data_seed": args.seed,
        "micro_batch": args.micro_batch,
        "max_new_tokens": args.max_new_tokens,
    }
    task = get_task("squad")
    loaded = prepare_model(args.model, args.track, dtype=args.dtype, device=args.device)
    device = next(loaded.model.parameters()).device
    examples = task.load(recipe).train
    prepared = task.prepare(loaded.tokenizer, examples, recipe)

    # Count the generated tokens of the timed calls by wrapping the function example_losses uses.
    generated = []
    original = squad.generate_answers

    def counting_generate(*call_args, **call_kwargs):
        result = original(*call_args, **call_kwargs)
        generated.append(result.generated_tokens)
        return result

    squad.generate_answers = counting_generate
    try:
        task.example_losses(loaded.model, loaded.tokenizer, prepared)
        generated.clear()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
        start = time.perf_counter()
        for _ in range(args.repeats):
            task.example_losses(loaded.model, loaded.tokenizer, prepared)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        elapsed = time.perf_counter() - start
    finally:
        squad.generate_answers = original

    prompt_tokens = sum(min(len(ids), prepared.prompt_limit(loaded.model) or len(ids)) for ids in prepared.prompt_ids)
    print(f"model {args.model} ({args.track}, {args.dtype}) on {device}, torch CPU threads: {torch.get_num_threads()}, data {data}")
    print(
        f"{len(examples)} examples, micro_batch {args.micro_batch}, max_new_tokens {args.max_new_tokens}, "
        f"{prompt_tokens / len(examples):.0f} prompt tokens per example, {prepared.input_batches(loaded.model)[1]} prompts cut"
    )
    print(f"example_losses: {elapsed / args.repeats:.3f} s per call ({args.repeats} calls)")
    print(f"examples per second: {len(examples) * args.repeats / elapsed:.1f}")
    print(f"generated tokens per second: {sum(generated) / elapsed:.1f} ({sum(generated) / len(generated) / len(examples):.1f} per example)")
    if device.type == "cuda":
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated(device) / 2**20:.1f} MiB")
    # ru_maxrss is in KiB on Linux.
    print(f"peak process RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} MiB")


if __name__ == "__main__":
    main()

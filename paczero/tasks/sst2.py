"""SST-2 (GLUE) sentiment classification as a two-candidate scoring task.

Prompt `"<sentence> It was"`; candidates `" terrible"` (label 0) and `" great"`
(label 1). A candidate's score is the mean log-probability of its tokens after
the prompt. The per-example loss is the cross-entropy over the candidates'
scores, and accuracy is the share of examples whose highest-scoring candidate
is the label.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from paczero.models import base_causal_lm
from paczero.tasks.base import Splits, length_sorted_batches, sample_indices

logger = logging.getLogger(__name__)

TEMPLATE = "{sentence} It was"
CANDIDATES = (" terrible", " great")
SPLIT_FILES = {"train": ("train.tsv", "train.jsonl", "train.parquet"), "dev": ("dev.tsv", "validation.jsonl", "validation.parquet", "dev.jsonl", "dev.parquet")}


def _read_table(path: Path) -> list[dict[str, Any]]:
    import pandas as pd

    if path.suffix == ".tsv":
        frame = pd.read_csv(path, sep="\t", quoting=csv.QUOTE_NONE, keep_default_na=False, dtype={"sentence": str})
    elif path.suffix == ".jsonl":
        frame = pd.read_json(path, lines=True)
    else:
        frame = pd.read_parquet(path)
    missing = {"sentence", "label"} - set(frame.columns)
    if missing:
        raise ValueError(f"{path}: missing column(s) {sorted(missing)}; SST-2 files need 'sentence' and 'label'")
    labels = frame["label"]
    if not set(np.unique(labels)).issubset({0, 1}):
        raise ValueError(f"{path}: labels must be 0 or 1, found {sorted(set(np.unique(labels)))[:5]}")
    return [{"sentence": str(s).strip(), "label": int(y)} for s, y in zip(frame["sentence"], labels)]


def _find_split(folder: Path, split: str) -> Path:
    for name in SPLIT_FILES[split]:
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(
        f"SST-2 folder {folder} has no {split} file; expected one of {', '.join(SPLIT_FILES[split])} "
        f"(GLUE TSV with columns sentence, label)"
    )


def load_pools(data: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Return (train pool, validation pool) from 'hub', 'demo' or a local folder."""
    if data == "hub":
        from datasets import load_dataset

        dataset = load_dataset("glue", "sst2")
        return (
            [{"sentence": r["sentence"].strip(), "label": int(r["label"])} for r in dataset["train"]],
            [{"sentence": r["sentence"].strip(), "label": int(r["label"])} for r in dataset["validation"]],
        )
    if data == "demo":
        folder = Path(str(resources.files("paczero.data") / "demo_sst2"))
    else:
        folder = Path(data).expanduser()
        if not folder.is_dir():
            raise FileNotFoundError(f"SST-2 data folder {data!r} not found; set data.sst2 to a folder with train.tsv and dev.tsv, 'demo' or 'hub'")
    return _read_table(_find_split(folder, "train")), _read_table(_find_split(folder, "dev"))


@dataclass
class PreparedBatch:
    indices: np.ndarray  # positions of these examples in the prepared split
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    last_position: torch.Tensor  # index of each row's last prompt token (right padding)


@dataclass
class Prepared:
    batches: list[PreparedBatch]
    labels: torch.Tensor
    candidate_ids: list[list[int]]
    single_token: bool
    num_examples: int
    num_tokens: int  # prompt tokens without padding, for throughput numbers
    pad_id: int = 0  # token id that fills the right padding


class SST2Task:
    name = "sst2"
    metric = "accuracy"
    select = "min_loss"

    def load(self, recipe: dict[str, Any]) -> Splits:
        train_pool, eval_pool = load_pools(recipe["data"])
        num_train, num_dev = int(recipe["num_train"]), int(recipe["num_dev"])
        if num_train + num_dev > len(train_pool):
            raise ValueError(
                f"num_train + num_dev = {num_train + num_dev} exceeds the {len(train_pool)} SST-2 training examples "
                f"in {recipe['data']!r}; lower num_train or num_dev"
            )
        drawn = sample_indices(len(train_pool), num_train + num_dev, int(recipe["data_seed"]))
        eval_idx = sample_indices(len(eval_pool), int(recipe["num_eval"]), int(recipe["data_seed"]))
        return Splits(
            train=[train_pool[i] for i in drawn[:num_train]],
            dev=[train_pool[i] for i in drawn[num_train:]],
            eval=[eval_pool[i] for i in eval_idx],
        )

    def prepare(self, tokenizer, examples: list[dict[str, Any]], recipe: dict[str, Any]) -> Prepared:
        candidate_ids = [tokenizer(c, add_special_tokens=False)["input_ids"] for c in CANDIDATES]
        single_token = all(len(ids) == 1 for ids in candidate_ids)
        prompts = [tokenizer(TEMPLATE.format(sentence=e["sentence"]))["input_ids"] for e in examples]
        if single_token:
            sequences = prompts
        else:
            # One row per (example, candidate): the prompt followed by the candidate's tokens.
            sequences = [p + c for p in prompts for c in candidate_ids]
        lengths = [len(s) for s in sequences]
        pad_id = tokenizer.pad_token_id
        batches = []
        for idx in length_sorted_batches(lengths, int(recipe["micro_batch"])):
            width = max(lengths[i] for i in idx)
            ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            for row, i in enumerate(idx):
                ids[row, : lengths[i]] = torch.tensor(sequences[i])
                mask[row, : lengths[i]] = 1
            last = torch.tensor([lengths[i] - 1 for i in idx])
            batches.append(PreparedBatch(indices=idx, input_ids=ids, attention_mask=mask, last_position=last))
        labels = torch.tensor([e["label"] for e in examples], dtype=torch.long)
        return Prepared(
            batches, labels, candidate_ids, single_token, len(examples), sum(len(p) for p in prompts), pad_id
        )

    def subset(self, prepared: Prepared, indices, micro_batch: int) -> Prepared:
        """Select the examples at `indices` (positions in `prepared`) without tokenizing again.

        Example j of the result is example indices[j] of `prepared`. The selected
        rows keep their length-sorted order and are regrouped into micro-batches
        of `micro_batch` rows, trimmed to their longest row.
        """
        indices = np.asarray(indices, dtype=np.int64)
        if indices.ndim != 1:
            raise ValueError(f"indices must be 1-D, got shape {indices.shape}")
        if indices.size and (indices.min() < 0 or indices.max() >= prepared.num_examples):
            raise ValueError(f"indices must be in [0, {prepared.num_examples - 1}], got min {indices.min()}, max {indices.max()}")
        if np.unique(indices).size != indices.size:
            raise ValueError("indices must not repeat an example")
        if micro_batch < 1:
            raise ValueError(f"micro_batch must be >= 1, got {micro_batch}")
        rows_per_example = 1 if prepared.single_token else 2
        new_position = np.full(prepared.num_examples, -1, dtype=np.int64)
        new_position[indices] = np.arange(indices.size)

        # (source batch, row in it, new flat row index) in the prepared length order.
        picked: list[tuple[PreparedBatch, int, int]] = []
        for batch in prepared.batches:
            flat = np.asarray(batch.indices, dtype=np.int64)
            example = flat // rows_per_example
            for row in np.nonzero(new_position[example] >= 0)[0]:
                new_flat = new_position[example[row]] * rows_per_example + flat[row] % rows_per_example
                picked.append((batch, int(row), int(new_flat)))

        batches = []
        for start in range(0, len(picked), micro_batch):
            group = picked[start : start + micro_batch]
            lengths = [int(batch.last_position[row]) + 1 for batch, row, _ in group]
            width = max(lengths)
            ids = torch.full((len(group), width), prepared.pad_id, dtype=torch.long)
            mask = torch.zeros((len(group), width), dtype=torch.long)
            for new_row, ((batch, row, _), length) in enumerate(zip(group, lengths)):
                ids[new_row, :length] = batch.input_ids[row, :length]
                mask[new_row, :length] = batch.attention_mask[row, :length]
            batches.append(PreparedBatch(
                indices=np.array([new_flat for _, _, new_flat in group], dtype=np.int64),
                input_ids=ids,
                attention_mask=mask,
                last_position=torch.tensor([length - 1 for length in lengths]),
            ))
        labels = prepared.labels[torch.as_tensor(indices)]
        # Prompt tokens of the selected examples: every row's length in single-token mode,
        # the first candidate's rows less that candidate's tokens otherwise.
        num_tokens = sum(
            int(batch.last_position[row]) + 1 - (0 if prepared.single_token else len(prepared.candidate_ids[0]))
            for batch, row, new_flat in picked
            if new_flat % rows_per_example == 0
        )
        return Prepared(
            batches, labels, prepared.candidate_ids, prepared.single_token, int(indices.size), num_tokens, prepared.pad_id
        )

    @torch.no_grad()
    def scores(self, model, prepared: Prepared) -> torch.Tensor:
        """Candidate scores (mean log-probability of the candidate's tokens), float32, shape (N, 2)."""
        lm = base_causal_lm(model)
        device = next(model.parameters()).device
        if prepared.single_token:
            return self._single_token_scores(model, lm, prepared, device)
        return self._multi_token_scores(model, prepared, device)

    def _single_token_scores(self, model, lm, prepared: Prepared, device) -> torch.Tensor:
        # One forward pass of the prompt scores both candidates: only the last
        # position's logits are needed, and the cross-entropy over candidates
        # depends only on the candidates' logits (the log-normaliser cancels),
        # but the reported scores are full log-probabilities.
        decoder = getattr(lm, lm.base_model_prefix)
        head = lm.get_output_embeddings()
        out = torch.empty((prepared.num_examples, 2), dtype=torch.float32)
        for batch in prepared.batches:
            hidden = decoder(
                input_ids=batch.input_ids.to(device), attention_mask=batch.attention_mask.to(device)
            ).last_hidden_state
            last = hidden[torch.arange(hidden.shape[0], device=device), batch.last_position.to(device)]
            logprobs = F.log_softmax(head(last).float(), dim=-1)
            cand = torch.tensor([c[0] for c in prepared.candidate_ids], device=device)
            out[torch.as_tensor(batch.indices)] = logprobs[:, cand].cpu()
        return out

    def _multi_token_scores(self, model, prepared: Prepared, device) -> torch.Tensor:
        flat = torch.empty(prepared.num_examples * 2, dtype=torch.float32)
        for batch in prepared.batches:
            logits = model(
                input_ids=batch.input_ids.to(device), attention_mask=batch.attention_mask.to(device)
            ).logits.float()
            logprobs = F.log_softmax(logits[:, :-1], dim=-1)
            targets = batch.input_ids[:, 1:].to(device)
            token_lp = logprobs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
            for row, flat_index in enumerate(batch.indices):
                cand_len = len(prepared.candidate_ids[int(flat_index) % 2])
                end = int(batch.last_position[row])
                flat[int(flat_index)] = token_lp[row, end - cand_len : end].mean().cpu()
        return flat.view(-1, 2)

    def example_losses(self, model, tokenizer, prepared: Prepared) -> torch.Tensor:
        scores = self.scores(model, prepared)
        return F.cross_entropy(scores, prepared.labels, reduction="none")

    def evaluate(self, model, tokenizer, prepared: Prepared) -> dict[str, float]:
        scores = self.scores(model, prepared)
        losses = F.cross_entropy(scores, prepared.labels, reduction="none")
        correct = (scores.argmax(dim=1) == prepared.labels).float()
        return {
            "loss": float(losses.mean()),
            "accuracy": float(100.0 * correct.mean()),
            "num_examples": prepared.num_examples,
        }


TASK = SST2Task()

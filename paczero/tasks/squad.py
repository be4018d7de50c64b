"""SQuAD v1.1: extractive question answering scored on greedy generations.

The model reads `"Title: <title>\\nContext: <context>\\nQuestion: <question>\\nAnswer:"`
and generates greedily (no sampling, one beam) up to `max_new_tokens` tokens,
stopping at the first token that contains a newline or at an end-of-sequence
token. The answer is the generated text before the first newline, stripped.
The training loss of an example is minus the token F1 of that answer (a
fraction in [-1, 0]); it has no gradient, which zeroth-order training does
not need. Evaluation reports F1 and exact match in percent.

Prompts are tokenized once in `prepare`. Their token limit depends on the
model (`max_position_embeddings`), which `prepare` does not see, so prompts
are cut to the limit and padded into tensors on first use with a model, and
those tensors are cached for every later call.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from paczero.models import base_causal_lm
from paczero.tasks import squad_data
from paczero.tasks.base import Splits, length_sorted_batches, sample_indices
from paczero.tasks.squad_metric import max_exact_match, max_f1

logger = logging.getLogger(__name__)

PROMPT_TEMPLATE = "Title: {title}\nContext: {context}\nQuestion: {question}\nAnswer:"
DEFAULT_MAX_NEW_TOKENS = 50
# Defaults of the recipe fields this task reads (the recipe normally sets them all).
RECIPE_DEFAULTS = {"data": "hub", "num_train": 1000, "num_dev": 500, "num_eval": 1000, "micro_batch": 64}


def build_prompt(example: dict[str, Any]) -> str:
    return PROMPT_TEMPLATE.format(title=example["title"], context=example["context"], question=example["question"])


def newline_token_ids(tokenizer) -> list[int]:
    """Ids of every vocabulary token whose decoded text contains a newline.

    Byte-level BPE vocabularies hold the newline inside tokens such as 'Ċ' or
    '.Ċ', and SentencePiece ones as the byte token '<0x0A>', so the tokens are
    found by decoding each one rather than by name.
    """
    texts = tokenizer.batch_decode([[token_id] for token_id in range(len(tokenizer))])
    return [token_id for token_id, text in enumerate(texts) if "\n" in text]


def special_prefix_length(tokenizer) -> int:
    """Number of special tokens (such as BOS) the tokenizer puts before the text."""
    probe = "Answer:"
    with_special = tokenizer(probe)["input_ids"]
    plain = tokenizer(probe, add_special_tokens=False)["input_ids"]
    for start in range(len(with_special) - len(plain) + 1):
        if with_special[start : start + len(plain)] == plain:
            return start
    return 0


def cut_prompt(token_ids: list[int], limit: int, prefix_length: int) -> list[int]:
    """Keep the first `prefix_length` (special) tokens and the last tokens, `limit` in all."""
    if len(token_ids) <= limit:
        return token_ids
    return token_ids[:prefix_length] + token_ids[len(token_ids) - (limit - prefix_length) :]


def answer_from_generation(text: str) -> str:
    """Cut generated text to the answer: the text before the first newline, stripped.

    A stop token can carry text after its newline (such as '.\\nThe'), which is dropped here.
    """
    return text.split("\n", 1)[0].strip()


def model_max_positions(model) -> int | None:
    """Return the model's position limit (`config.max_position_embeddings`), or None when it has none."""
    config = getattr(base_causal_lm(model), "config", None)
    return getattr(config, "max_position_embeddings", None)


@dataclass
class PromptBatch:
    """One micro-batch of left-padded prompts; `indices` are positions in the prepared examples."""

    indices: np.ndarray
    input_ids: torch.Tensor
    attention_mask: torch.Tensor


@dataclass
class PreparedSquad:
    """Tokenized prompts of one split, grouped into length-sorted micro-batches."""

    examples: list[dict[str, Any]]
    prompt_ids: list[list[int]]
    batches: list[np.ndarray]
    max_new_tokens: int
    max_length: int | None
    prefix_length: int
    stop_token_ids: list[int]
    pad_token_id: int
    # (prompt limit, device) -> (batches on that device, number of cut prompts)
    _inputs: dict[tuple[int | None, str], tuple[list[PromptBatch], int]] = field(default_factory=dict, repr=False)

    def prompt_limit(self, model) -> int | None:
        """Max prompt tokens: the smaller of the model's positions and `max_length`, minus `max_new_tokens`."""
        limits = [value for value in (model_max_positions(model), self.max_length) if value is not None]
        if not limits:
            return None
        limit = min(limits) - self.max_new_tokens
        if limit <= self.prefix_length:
            raise ValueError(
                f"max_length {min(limits)} leaves no room for a prompt after max_new_tokens {self.max_new_tokens}; "
                "raise max_length or lower max_new_tokens"
            )
        return limit

    def input_batches(self, model) -> tuple[list[PromptBatch], int]:
        """Return the left-padded batches for `model` (cut and cached on first use) and the count of cut prompts."""
        limit = self.prompt_limit(model)
        device = next(model.parameters()).device
        key = (limit, str(device))
        if key not in self._inputs:
            self._inputs[key] = self._build_inputs(limit, device)
        return self._inputs[key]

    def _build_inputs(self, limit: int | None, device: torch.device) -> tuple[list[PromptBatch], int]:
        if limit is None:
            prompts = self.prompt_ids
        else:
            prompts = [cut_prompt(ids, limit, self.prefix_length) for ids in self.prompt_ids]
        num_cut = sum(len(cut) < len(full) for cut, full in zip(prompts, self.prompt_ids))
        if num_cut:
            logger.warning(
                "SQuAD: %d of %d prompts are longer than %d tokens and were cut on the left",
                num_cut, len(prompts), limit,
            )
        else:
            logger.info("SQuAD: none of %d prompts exceeds the prompt limit of %s tokens", len(prompts), limit)

        batches = []
        for indices in self.batches:
            rows = [prompts[i] for i in indices]
            width = max(len(row) for row in rows)
            input_ids = torch.full((len(rows), width), self.pad_token_id, dtype=torch.long)
            attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
            for row_index, row in enumerate(rows):
                # Left padding: the prompt ends at the last column, where generation continues.
                input_ids[row_index, width - len(row) :] = torch.tensor(row, dtype=torch.long)
                attention_mask[row_index, width - len(row) :] = 1
            batches.append(PromptBatch(indices, input_ids.to(device), attention_mask.to(device)))
        return batches, num_cut


@dataclass
class GenerationResult:
    """Greedy answers in example order, the tokens generated up to each row's stop, and the count of cut prompts."""

    answers: list[str]
    generated_tokens: int
    truncated: int


def _generation_config(prepared: PreparedSquad, model):
    from transformers import GenerationConfig

    stop_ids = set(prepared.stop_token_ids)
    model_eos = getattr(getattr(base_causal_lm(model), "generation_config", None), "eos_token_id", None)
    if model_eos is not None:
        stop_ids.update([model_eos] if isinstance(model_eos, int) else model_eos)
    # Every field a model's own generation config could use to change greedy
    # decoding is set explicitly, because generate() fills unset fields from it.
    config = GenerationConfig(
        max_new_tokens=prepared.max_new_tokens,
        do_sample=False,
        num_beams=1,
        repetition_penalty=1.0,
        no_repeat_ngram_size=0,
        min_length=0,
        eos_token_id=sorted(stop_ids),
        pad_token_id=prepared.pad_token_id,
        use_cache=True,
    )
    return config, sorted(stop_ids)


def generate_answers(model, tokenizer, prepared: PreparedSquad) -> GenerationResult:
    """Generate the greedy answer of every prepared example, one micro-batch per `generate` call.

    `generate` stops a row at its first stop token (a newline token or EOS) and
    the whole batch once every row has stopped. Works for transformers models
    and peft-wrapped ones.
    """
    batches, num_cut = prepared.input_batches(model)
    config, stop_ids = _generation_config(prepared, model)
    answers: list[str] = [""] * len(prepared.examples)
    generated_tokens = 0
    for batch in batches:
        output = model.generate(input_ids=batch.input_ids, attention_mask=batch.attention_mask, generation_config=config)
        new_tokens = output[:, batch.input_ids.shape[1] :]
        is_stop = torch.isin(new_tokens, torch.tensor(stop_ids, device=new_tokens.device))
        # Tokens up to and including the first stop token; all of them when a row never stopped.
        first_stop = torch.where(is_stop.any(dim=1), is_stop.int().argmax(dim=1) + 1, new_tokens.shape[1])
        lengths = first_stop.tolist()
        generated_tokens += sum(lengths)
        rows = new_tokens.tolist()
        texts = tokenizer.batch_decode(
            [row[:length] for row, length in zip(rows, lengths)], skip_special_tokens=True
        )
        for index, text in zip(batch.indices, texts):
            answers[index] = answer_from_generation(text)
    return GenerationResult(answers=answers, generated_tokens=generated_tokens, truncated=num_cut)


def _recipe_value(recipe: dict[str, Any], key: str):
    value = recipe.get(key)
    if value is None:
        if key not in RECIPE_DEFAULTS:
            raise ValueError(f"the recipe has no {key!r}; set it (the SQuAD task needs it)")
        return RECIPE_DEFAULTS[key]
    return value


class SquadTask:
    name = "squad"
    metric = "f1"
    select = "max_metric"

    def load(self, recipe: dict[str, Any]) -> Splits:
        """Sample train and dev from the train split and eval from the validation (dev) split.

        `data` is 'hub', 'demo' or a local folder (see `paczero.tasks.squad_data`).
        A permutation of the train split seeded with `data_seed` gives the
        examples: its first `num_train` are train and the next `num_dev` are dev.
        Eval is the first `num_eval` of a permutation of the validation split
        with the same seed.
        """
        source = str(_recipe_value(recipe, "data"))
        num_train = int(_recipe_value(recipe, "num_train"))
        num_dev = int(_recipe_value(recipe, "num_dev"))
        num_eval = int(_recipe_value(recipe, "num_eval"))
        seed = int(_recipe_value(recipe, "data_seed"))

        if source == "hub":
            pools = squad_data.read_hub()
            to_example = squad_data.hub_row_to_example
        else:
            folder = squad_data.demo_folder() if source == "demo" else source
            pools = squad_data.read_folder(folder)
            to_example = dict

        train_pool, dev_pool = pools["train"], pools["dev"]
        drawn = sample_indices(len(train_pool), num_train + num_dev, seed)
        if len(drawn) < num_train + num_dev:
            logger.warning(
                "SQuAD train split has %d questions, fewer than num_train + num_dev = %d; dev gets %d",
                len(train_pool), num_train + num_dev, max(len(drawn) - num_train, 0),
            )
        eval_indices = sample_indices(len(dev_pool), num_eval, seed)
        if len(eval_indices) < num_eval:
            logger.warning("SQuAD validation split has %d questions, fewer than num_eval = %d", len(dev_pool), num_eval)
        return Splits(
            train=[to_example(train_pool[int(i)]) for i in drawn[:num_train]],
            dev=[to_example(train_pool[int(i)]) for i in drawn[num_train : num_train + num_dev]],
            eval=[to_example(dev_pool[int(i)]) for i in eval_indices],
        )

    def prepare(self, tokenizer, examples: list[dict[str, Any]], recipe: dict[str, Any]) -> PreparedSquad:
        """Tokenize the prompts once and group them into micro-batches of similar length."""
        max_new_tokens = recipe.get("max_new_tokens")
        max_new_tokens = DEFAULT_MAX_NEW_TOKENS if max_new_tokens is None else int(max_new_tokens)
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        max_length = recipe.get("max_length")
        pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        if pad_token_id is None:
            raise ValueError("the tokenizer has neither a pad nor an EOS token; set tokenizer.pad_token")
        stop_token_ids = newline_token_ids(tokenizer)
        if tokenizer.eos_token_id is not None:
            stop_token_ids.append(tokenizer.eos_token_id)
        if not stop_token_ids:
            raise ValueError("the tokenizer has no token containing a newline and no EOS token, so generation cannot stop")

        prompts = [build_prompt(example) for example in examples]
        prompt_ids = tokenizer(prompts)["input_ids"] if prompts else []
        return PreparedSquad(
            examples=examples,
            prompt_ids=prompt_ids,
            batches=length_sorted_batches([len(ids) for ids in prompt_ids], int(_recipe_value(recipe, "micro_batch"))),
            max_new_tokens=max_new_tokens,
            max_length=None if max_length is None else int(max_length),
            prefix_length=special_prefix_length(tokenizer),
            stop_token_ids=sorted(set(stop_token_ids)),
            pad_token_id=pad_token_id,
        )

    def scores(self, model, tokenizer, prepared: PreparedSquad) -> tuple[GenerationResult, np.ndarray, np.ndarray]:
        """Generated answers with their F1 and exact match (fractions), in example order."""
        result = generate_answers(model, tokenizer, prepared)
        golds = [example["answers"] for example in prepared.examples]
        f1 = np.array([max_f1(answer, gold) for answer, gold in zip(result.answers, golds)], dtype=np.float64)
        exact = np.array([max_exact_match(answer, gold) for answer, gold in zip(result.answers, golds)], dtype=np.float64)
        return result, f1, exact

    def example_losses(self, model, tokenizer, prepared: PreparedSquad) -> torch.Tensor:
        """Minus the F1 (a fraction) of each example's greedy answer, float32 on the CPU."""
        _, f1, _ = self.scores(model, tokenizer, prepared)
        # 0.0 - f1 gives 0.0 rather than -0.0 for a zero F1.
        return torch.from_numpy(0.0 - f1).to(torch.float32)

    def evaluate(self, model, tokenizer, prepared: PreparedSquad) -> dict[str, float]:
        """Mean -F1 as `loss`; F1 and exact match in percent; the number of examples and of cut prompts.

        With no examples the loss and metrics are NaN.
        """
        result, f1, exact = self.scores(model, tokenizer, prepared)
        empty = len(f1) == 0
        return {
            "loss": float("nan") if empty else float(0.0 - f1.mean()),
            "f1": float("nan") if empty else float(100 * f1.mean()),
            "exact_match": float("nan") if empty else float(100 * exact.mean()),
            "num_examples": len(f1),
            "truncated": result.truncated,
        }


TASK = SquadTask()

"""SQuAD generation, losses and evaluation on the tiny OPT model (random weights, float32, CPU)."""

import copy
import logging
import math

import pytest
import torch

from paczero.models import base_causal_lm, prepare_model
from paczero.tasks import get_task
from paczero.tasks.squad import answer_from_generation, build_prompt, generate_answers

TASK = get_task("squad")


@pytest.fixture(scope="module")
def ft_model():
    return prepare_model("tiny:opt-small", "ft")


@pytest.fixture(scope="module")
def lora_model():
    loaded = prepare_model("tiny:opt-small", "lora")
    # Fresh LoRA B matrices are zero, so the adapters would change nothing. Random
    # adapter weights make the peft path produce answers of its own.
    generator = torch.Generator().manual_seed(0)
    for _, param in loaded.trainable:
        param.data += 0.5 * torch.randn(param.shape, generator=generator)
    return loaded


@pytest.fixture(scope="module", params=["ft", "lora"])
def any_model(request):
    return request.getfixturevalue(f"{request.param}_model")


@pytest.fixture(scope="module")
def demo_examples():
    return TASK.load({"data": "demo", "num_train": 8, "num_dev": 0, "num_eval": 0, "data_seed": 1}).train


def example(question_id, context, answers, question="Where?"):
    return {"id": question_id, "title": "T", "context": context, "question": question, "answers": answers}


class ForcedTokens:
    """Forward hook on the LM head that makes generation step k emit the token plan[k].

    plan[k] is one token id for every row, or a list with one id per batch row.
    Steps past the plan leave the logits alone. `calls` counts forward passes.
    """

    def __init__(self, plan):
        self.plan = plan
        self.calls = 0

    def __call__(self, module, inputs, output):
        step = self.calls
        self.calls += 1
        if step >= len(self.plan):
            return output
        tokens = self.plan[step]
        forced = torch.full_like(output, -1e9)
        if isinstance(tokens, int):
            forced[:, -1, tokens] = 0.0
        else:
            for row, token in enumerate(tokens):
                forced[row, -1, token] = 0.0
        return forced


def run_with_plan(loaded, plan, function):
    hook = ForcedTokens(plan)
    handle = base_causal_lm(loaded.model).lm_head.register_forward_hook(hook)
    try:
        return function(), hook
    finally:
        handle.remove()


def newline_id(tokenizer):
    return tokenizer("\n", add_special_tokens=False)["input_ids"][-1]


def assert_batched_matches_single(model, tokenizer, examples):
    recipe = {"micro_batch": 16, "max_new_tokens": 8}
    prepared = TASK.prepare(tokenizer, examples, recipe)
    batches, _ = prepared.input_batches(model)
    assert any(bool((batch.attention_mask[:, 0] == 0).any()) for batch in batches), "no row is padded"

    batched = generate_answers(model, tokenizer, prepared).answers
    single = [generate_answers(model, tokenizer, TASK.prepare(tokenizer, [item], recipe)).answers[0] for item in examples]
    assert batched == single
    assert len(set(batched)) > 1, "every answer is the same, so the comparison shows little"


def test_batched_matches_single(any_model, demo_examples):
    short = [example("s1", "Paris.", ["Paris"]), example("s2", "Ada was born in Riga in 1901.", ["Riga"])]
    assert_batched_matches_single(any_model.model, any_model.tokenizer, demo_examples + short)


def test_batched_matches_single_pad_is_eos(ft_model, demo_examples):
    # Tokenizers without a pad token get the EOS token as pad. OPT's BOS is that same token,
    # so only the attention mask distinguishes padding from the prompt.
    tokenizer = copy.deepcopy(ft_model.tokenizer)
    tokenizer.pad_token = tokenizer.eos_token
    assert tokenizer.pad_token_id == tokenizer.bos_token_id
    short = [example("s1", "Paris.", ["Paris"])]
    assert_batched_matches_single(ft_model.model, tokenizer, demo_examples[:4] + short)


def test_small_micro_batches_match_one_batch(ft_model, demo_examples):
    one_batch = TASK.prepare(ft_model.tokenizer, demo_examples, {"micro_batch": 16, "max_new_tokens": 6})
    several = TASK.prepare(ft_model.tokenizer, demo_examples, {"micro_batch": 3, "max_new_tokens": 6})
    assert len(several.batches) == 3
    first = generate_answers(ft_model.model, ft_model.tokenizer, one_batch).answers
    second = generate_answers(ft_model.model, ft_model.tokenizer, several).answers
    assert first == second


def test_lora_adapters_change_answers(ft_model, lora_model, demo_examples):
    recipe = {"micro_batch": 16, "max_new_tokens": 8}
    base = generate_answers(ft_model.model, ft_model.tokenizer, TASK.prepare(ft_model.tokenizer, demo_examples, recipe))
    adapted = generate_answers(lora_model.model, lora_model.tokenizer, TASK.prepare(lora_model.tokenizer, demo_examples, recipe))
    assert base.answers != adapted.answers


def test_forced_answer_scored_in_example_order(any_model):
    tokenizer = any_model.tokenizer
    examples = [
        # The longest prompt comes first, so batch order (by length) differs from example order.
        example("long", "Ghent is a city in Flanders with an old harbour and many bridges. " * 3, ["Ghent"]),
        example("mid", "The city of Ghent lies in Flanders.", ["the city of Ghent"]),
        example("short", "Paris.", ["Paris"]),
    ]
    plan = tokenizer(" Ghent\n", add_special_tokens=False)["input_ids"]
    prepared = TASK.prepare(tokenizer, examples, {"micro_batch": 8, "max_new_tokens": 20})

    losses, hook = run_with_plan(any_model, plan, lambda: TASK.example_losses(any_model.model, tokenizer, prepared))
    assert losses.dtype == torch.float32
    # "ghent" vs "ghent": F1 1. vs "city of ghent": 1 shared, precision 1, recall 1/3, F1 = (2/3) / (4/3) = 0.5.
    # vs "paris": F1 0.
    assert losses.tolist() == pytest.approx([-1.0, -0.5, 0.0])
    # The batch stopped right after the newline, long before max_new_tokens.
    assert hook.calls == len(plan)

    result, _ = run_with_plan(any_model, plan, lambda: TASK.evaluate(any_model.model, tokenizer, prepared))
    assert result["loss"] == pytest.approx(-0.5)
    assert result["f1"] == pytest.approx(50.0)  # 100 * (1 + 0.5 + 0) / 3
    assert result["exact_match"] == pytest.approx(100 / 3)  # only "Ghent" matches exactly
    assert result["num_examples"] == 3
    assert result["truncated"] == 0


def test_batch_stops_when_every_row_stopped(ft_model, demo_examples):
    tokenizer = ft_model.tokenizer
    newline = newline_id(tokenizer)
    letter = tokenizer.convert_tokens_to_ids("x")
    rows = len(demo_examples)
    plan = [[newline] + [letter] * (rows - 1), letter, newline]
    prepared = TASK.prepare(tokenizer, demo_examples, {"micro_batch": rows, "max_new_tokens": 20})

    result, hook = run_with_plan(ft_model, plan, lambda: generate_answers(ft_model.model, tokenizer, prepared))
    # Row 0 stops at step 1 and the others at step 3; the batch then ends, well before 20 steps.
    assert hook.calls == 3
    assert sorted(result.answers) == [""] + ["xx"] * (rows - 1)
    assert result.generated_tokens == 1 + 3 * (rows - 1)


def test_eos_stops_generation(ft_model, demo_examples):
    tokenizer = ft_model.tokenizer
    prepared = TASK.prepare(tokenizer, demo_examples, {"micro_batch": 4, "max_new_tokens": 20})
    result, hook = run_with_plan(
        ft_model, [tokenizer.eos_token_id] * 2, lambda: generate_answers(ft_model.model, tokenizer, prepared)
    )
    assert result.answers == [""] * len(demo_examples)
    # Two micro-batches of 4, one forward pass each.
    assert hook.calls == 2
    assert result.generated_tokens == len(demo_examples)


def test_answer_is_text_before_newline(ft_model):
    tokenizer = ft_model.tokenizer
    plan = tokenizer("  Riga \n", add_special_tokens=False)["input_ids"]
    prepared = TASK.prepare(tokenizer, [example("a", "Ada was born in Riga.", ["Riga"])], {"micro_batch": 1})
    result, _ = run_with_plan(ft_model, plan, lambda: generate_answers(ft_model.model, tokenizer, prepared))
    assert result.answers == ["Riga"]


@pytest.mark.parametrize(
    "text, expected",
    [(" Riga\n", "Riga"), (" Riga.\nThe next line", "Riga."), ("\nRiga", ""), ("  Riga  ", "Riga"), ("", "")],
)
def test_answer_from_generation_cases(text, expected):
    assert answer_from_generation(text) == expected


def test_stop_tokens_include_newline_and_eos(ft_model):
    tokenizer = ft_model.tokenizer
    prepared = TASK.prepare(tokenizer, [example("a", "c", ["x"])], {"micro_batch": 1})
    assert tokenizer.eos_token_id in prepared.stop_token_ids
    assert tokenizer.convert_tokens_to_ids("Ċ") in prepared.stop_token_ids
    for token_id in prepared.stop_token_ids:
        if token_id != tokenizer.eos_token_id:
            assert "\n" in tokenizer.decode([token_id])
    # The prompt's own line breaks are stop tokens.
    assert set(prepared.prompt_ids[0]) & set(prepared.stop_token_ids)


def test_long_prompts_cut_on_left_and_counted(ft_model, demo_examples, caplog):
    tokenizer = ft_model.tokenizer
    examples = demo_examples[:5] + [example("short", "Paris.", ["Paris"])]
    recipe = {"micro_batch": 4, "max_new_tokens": 4, "max_length": 64}
    prepared = TASK.prepare(tokenizer, examples, recipe)
    limit = 64 - 4
    full = [tokenizer(build_prompt(item))["input_ids"] for item in examples]
    expected_cut = sum(len(ids) > limit for ids in full)
    assert expected_cut == 5

    with caplog.at_level(logging.INFO, logger="paczero.tasks.squad"):
        batches, num_cut = prepared.input_batches(ft_model.model)
        result = TASK.evaluate(ft_model.model, tokenizer, prepared)
        TASK.example_losses(ft_model.model, tokenizer, prepared)
    assert num_cut == expected_cut
    assert result["truncated"] == expected_cut
    cut_messages = [record for record in caplog.records if "were cut on the left" in record.getMessage()]
    assert len(cut_messages) == 1
    assert "5 of 6 prompts" in cut_messages[0].getMessage()

    bos = tokenizer.bos_token_id
    for batch in batches:
        for row, index in enumerate(batch.indices):
            kept_tokens = batch.input_ids[row][batch.attention_mask[row].bool()].tolist()
            if len(full[index]) > limit:
                assert kept_tokens == [bos] + full[index][-(limit - 1) :]
            else:
                assert kept_tokens == full[index]
            # Left padding: the prompt occupies the last columns.
            assert batch.attention_mask[row, -1] == 1
    assert prepared.input_batches(ft_model.model)[0] is batches


def test_model_positions_cap_prompt(ft_model):
    tokenizer = ft_model.tokenizer
    positions = ft_model.model.config.max_position_embeddings
    long_context = "Ada was born in Riga in 1901 and studied botany. " * 200
    examples = [example("long", long_context, ["Riga"]), example("short", "Paris.", ["Paris"])]
    prepared = TASK.prepare(tokenizer, examples, {"micro_batch": 2, "max_new_tokens": 4})
    assert len(prepared.prompt_ids[0]) > positions

    result = TASK.evaluate(ft_model.model, tokenizer, prepared)
    assert result["truncated"] == 1
    batches, _ = prepared.input_batches(ft_model.model)
    assert batches[0].input_ids.shape[1] == positions - 4


def test_recipe_max_length_caps_below_model(ft_model):
    prepared = TASK.prepare(ft_model.tokenizer, [example("a", "c", ["x"])], {"micro_batch": 1, "max_length": 100})
    assert prepared.prompt_limit(ft_model.model) == 100 - 50
    uncapped = TASK.prepare(ft_model.tokenizer, [example("a", "c", ["x"])], {"micro_batch": 1, "max_length": 10_000})
    assert uncapped.prompt_limit(ft_model.model) == ft_model.model.config.max_position_embeddings - 50


def test_max_length_without_room_rejected(ft_model):
    prepared = TASK.prepare(ft_model.tokenizer, [example("a", "c", ["x"])], {"micro_batch": 1, "max_length": 8, "max_new_tokens": 8})
    with pytest.raises(ValueError, match="raise max_length or lower max_new_tokens"):
        TASK.example_losses(ft_model.model, ft_model.tokenizer, prepared)


def test_model_sampling_settings_ignored(ft_model, demo_examples):
    prepared = TASK.prepare(ft_model.tokenizer, demo_examples, {"micro_batch": 8, "max_new_tokens": 6})
    greedy = generate_answers(ft_model.model, ft_model.tokenizer, prepared).answers
    config = ft_model.model.generation_config
    saved = (config.do_sample, config.temperature, config.top_k, config.repetition_penalty)
    config.do_sample, config.temperature, config.top_k, config.repetition_penalty = True, 5.0, 0, 3.0
    try:
        torch.manual_seed(0)
        again = generate_answers(ft_model.model, ft_model.tokenizer, prepared).answers
    finally:
        config.do_sample, config.temperature, config.top_k, config.repetition_penalty = saved
    assert again == greedy


def test_losses_shape_and_range(ft_model, demo_examples):
    prepared = TASK.prepare(ft_model.tokenizer, demo_examples, {"micro_batch": 3, "max_new_tokens": 6})
    losses = TASK.example_losses(ft_model.model, ft_model.tokenizer, prepared)
    assert losses.shape == (len(demo_examples),)
    assert losses.dtype == torch.float32
    assert bool(((losses >= -1) & (losses <= 0)).all())


def test_no_examples(ft_model):
    prepared = TASK.prepare(ft_model.tokenizer, [], {"micro_batch": 4})
    assert TASK.example_losses(ft_model.model, ft_model.tokenizer, prepared).shape == (0,)
    result = TASK.evaluate(ft_model.model, ft_model.tokenizer, prepared)
    assert result["num_examples"] == 0
    assert math.isnan(result["f1"])


def test_invalid_max_new_tokens_rejected(ft_model):
    with pytest.raises(ValueError, match="max_new_tokens must be >= 1"):
        TASK.prepare(ft_model.tokenizer, [example("a", "c", ["x"])], {"micro_batch": 1, "max_new_tokens": 0})


def test_task_attributes():
    assert TASK.name == "squad"
    assert TASK.metric == "f1"
    assert TASK.select == "max_metric"

import pytest
import torch
import torch.nn.functional as F

from paczero.tasks import get_task
from paczero.tasks.sst2 import TEMPLATE


def _recipe(**kw):
    base = dict(data="demo", num_train=24, num_dev=8, num_eval=16, data_seed=0, micro_batch=5)
    base.update(kw)
    return base


def test_load_demo_sampling_is_seeded_and_disjoint():
    task = get_task("sst2")
    a = task.load(_recipe())
    b = task.load(_recipe())
    c = task.load(_recipe(data_seed=1))
    assert a.train == b.train
    assert a.train != c.train
    assert len(a.train) == 24
    assert len(a.dev) == 8
    assert len(a.eval) == 16


def test_load_real_glue_files(sst2_folder):
    splits = get_task("sst2").load(_recipe(data=str(sst2_folder), num_eval=1000))
    assert len(splits.eval) == 872  # the whole GLUE validation split
    assert all(e["label"] in (0, 1) for e in splits.train)
    assert not splits.train[0]["sentence"].endswith(" ")


def test_missing_folder_error_names_value(tmp_path):
    with pytest.raises(FileNotFoundError, match="no train file"):
        get_task("sst2").load(_recipe(data=str(tmp_path)))


def test_missing_column_error(tmp_path):
    (tmp_path / "train.tsv").write_text("text\tlabel\na\t1\n")
    (tmp_path / "dev.tsv").write_text("sentence\tlabel\na\t1\n")
    with pytest.raises(ValueError, match="missing column"):
        get_task("sst2").load(_recipe(data=str(tmp_path)))


def test_missing_dev_file_error(tmp_path):
    (tmp_path / "train.tsv").write_text("sentence\tlabel\na\t1\n")
    with pytest.raises(FileNotFoundError, match=f"SST-2 folder {tmp_path} has no dev file; expected one of dev.tsv"):
        get_task("sst2").load(_recipe(data=str(tmp_path)))


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("nice\tpositive\n", r"labels must be 0 or 1, found \['positive'\]"),
        ("nice\t1\nbad\n", r"labels must be 0 or 1, found \['', '1'\]"),
    ],
)
def test_invalid_labels_name_file(tmp_path, rows, message):
    for name in ("train.tsv", "dev.tsv"):
        (tmp_path / name).write_text("sentence\tlabel\n" + rows)
    with pytest.raises(ValueError, match=f"{tmp_path / 'train.tsv'}: {message}"):
        get_task("sst2").load(_recipe(data=str(tmp_path)))


def test_empty_files_rejected(tmp_path):
    for name in ("train.tsv", "dev.tsv"):
        (tmp_path / name).write_text("sentence\tlabel\n")
    with pytest.raises(ValueError, match="exceeds the 0 SST-2 training examples"):
        get_task("sst2").load(_recipe(data=str(tmp_path)))


def test_batched_losses_match_single_full_forward(tiny_lora):
    task = get_task("sst2")
    splits = task.load(_recipe())
    prepared = task.prepare(tiny_lora.tokenizer, splits.train, _recipe())
    assert prepared.single_token
    losses = task.example_losses(tiny_lora.model, tiny_lora.tokenizer, prepared)
    candidates = [c[0] for c in prepared.candidate_ids]
    for i in (0, 7, 23):
        example = splits.train[i]
        ids = tiny_lora.tokenizer(TEMPLATE.format(sentence=example["sentence"]), return_tensors="pt")
        with torch.no_grad():
            logits = tiny_lora.model(**ids).logits[0, -1].float()
        expected = F.cross_entropy(logits[candidates][None], torch.tensor([example["label"]]))
        assert losses[i].item() == pytest.approx(expected.item(), abs=1e-5)


def test_micro_batches_sorted_by_length(tiny_lora):
    task = get_task("sst2")
    splits = task.load(_recipe())
    prepared = task.prepare(tiny_lora.tokenizer, splits.train, _recipe())
    widths = [b.input_ids.shape[1] for b in prepared.batches]
    assert widths == sorted(widths)


def test_evaluate_accuracy_matches_scores(tiny_lora):
    task = get_task("sst2")
    splits = task.load(_recipe())
    prepared = task.prepare(tiny_lora.tokenizer, splits.eval, _recipe())
    result = task.evaluate(tiny_lora.model, tiny_lora.tokenizer, prepared)
    scores = task.scores(tiny_lora.model, prepared)
    expected = 100.0 * (scores.argmax(1) == prepared.labels).float().mean().item()
    assert result["accuracy"] == pytest.approx(expected)
    assert 0.0 <= result["accuracy"] <= 100.0

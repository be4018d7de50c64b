"""SQuAD loading: official JSON, JSONL, demo data, sampling and folder errors."""

import json
from pathlib import Path

import pytest

from paczero.data import make_demo_squad
from paczero.tasks import get_task, squad_data

REAL_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "squad"
needs_real_data = pytest.mark.skipif(
    not (REAL_DATA / "dev-v1.1.json").is_file(), reason=f"real SQuAD v1.1 files not found in {REAL_DATA}"
)
EXAMPLE_KEYS = {"id", "title", "context", "question", "answers"}


def recipe(data, **overrides):
    values = {"data": str(data), "num_train": 40, "num_dev": 20, "num_eval": 30, "data_seed": 0}
    values.update(overrides)
    return values


def ids(examples):
    return [example["id"] for example in examples]


@needs_real_data
def test_official_json_folder_reads_all_questions():
    pools = squad_data.read_folder(REAL_DATA)
    assert len(pools["train"]) == 3807
    assert len(pools["dev"]) == 10570
    first_dev = pools["dev"][0]
    assert set(first_dev) == EXAMPLE_KEYS
    assert first_dev["title"] == "Super_Bowl_50"
    assert first_dev["question"] == "Which NFL team represented the AFC at Super Bowl 50?"
    # The official dev file lists every annotator's answer, duplicates included.
    assert first_dev["answers"] == ["Denver Broncos", "Denver Broncos", "Denver Broncos"]
    by_id = {example["id"]: example for example in pools["train"]}
    assert by_id["56cc57466d243a140015ef24"]["answers"] == ["one"]


@needs_real_data
def test_real_data_load_sizes_and_fields():
    splits = get_task("squad").load(recipe(REAL_DATA))
    assert len(splits.train) == 40
    assert len(splits.dev) == 20
    assert len(splits.eval) == 30
    for example in splits.train + splits.dev + splits.eval:
        assert set(example) == EXAMPLE_KEYS
        assert example["answers"]
        assert all(answer in example["context"] for answer in example["answers"])
    dev_file_ids = {example["id"] for example in squad_data.read_folder(REAL_DATA)["dev"]}
    assert set(ids(splits.eval)) <= dev_file_ids
    assert any(len(example["answers"]) > 1 for example in splits.eval)


@needs_real_data
def test_sampling_deterministic_and_disjoint():
    task = get_task("squad")
    first = task.load(recipe(REAL_DATA, data_seed=3))
    again = task.load(recipe(REAL_DATA, data_seed=3))
    other = task.load(recipe(REAL_DATA, data_seed=4))
    assert ids(first.train) == ids(again.train)
    assert ids(first.dev) == ids(again.dev)
    assert ids(first.eval) == ids(again.eval)
    assert ids(first.train) != ids(other.train)
    assert ids(first.eval) != ids(other.eval)
    assert not set(ids(first.train)) & set(ids(first.dev))


@needs_real_data
def test_sampling_prefix_stable_across_sizes():
    task = get_task("squad")
    small = task.load(recipe(REAL_DATA, num_train=10, num_dev=5, num_eval=7))
    large = task.load(recipe(REAL_DATA, num_train=10, num_dev=20, num_eval=30))
    assert ids(small.train) == ids(large.train)
    assert ids(small.dev) == ids(large.dev)[:5]
    assert ids(small.eval) == ids(large.eval)[:7]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


def test_jsonl_folder_accepts_all_answer_forms(tmp_path):
    context = "Ada Holm was born in Riga in 1901."
    write_jsonl(
        tmp_path / "squad_train.jsonl",
        [
            {"id": "t1", "title": "Ada", "context": context, "question": "Where?", "answers": ["Riga"]},
            {"title": "Ada", "context": context, "question": "When?", "answers": {"text": ["1901"], "answer_start": [29]}},
            {"context": context, "question": "Who?", "answers": [{"text": "Ada Holm", "answer_start": 0}]},
        ],
    )
    write_jsonl(
        tmp_path / "squad_validation.jsonl",
        [{"id": "d1", "title": "Ada", "context": context, "question": "When?", "answers": ["1901", "in 1901"]}],
    )
    pools = squad_data.read_folder(tmp_path)
    assert [example["answers"] for example in pools["train"]] == [["Riga"], ["1901"], ["Ada Holm"]]
    assert ids(pools["train"]) == ["t1", "squad_train-2", "squad_train-3"]
    assert pools["train"][2]["title"] == ""
    assert pools["dev"] == [
        {"id": "d1", "title": "Ada", "context": context, "question": "When?", "answers": ["1901", "in 1901"]}
    ]

    splits = get_task("squad").load(recipe(tmp_path, num_train=2, num_dev=1, num_eval=5))
    assert len(splits.train) == 2
    assert len(splits.dev) == 1
    assert len(splits.eval) == 1
    assert sorted(ids(splits.train + splits.dev)) == sorted(ids(pools["train"]))


def test_official_name_wins_over_other_matches(tmp_path):
    article = {"title": "T", "paragraphs": [{"context": "c x", "qas": [{"id": "q", "question": "q?", "answers": [{"text": "x", "answer_start": 2}]}]}]}
    (tmp_path / "train-v1.1.json").write_text(json.dumps({"data": [article]}), encoding="utf-8")
    (tmp_path / "train-extra.json").write_text("{}", encoding="utf-8")
    assert squad_data.find_split_file(tmp_path, "train").name == "train-v1.1.json"


def test_missing_folder_error_names_folder(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match="nowhere.*not found"):
        get_task("squad").load(recipe(missing))


def test_empty_folder_error_names_expected_files(tmp_path):
    with pytest.raises(FileNotFoundError) as raised:
        get_task("squad").load(recipe(tmp_path))
    message = str(raised.value)
    assert str(tmp_path) in message
    assert "train-v1.1.json" in message


def test_missing_dev_file_error(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", [{"context": "c x", "question": "q", "answers": ["x"]}])
    with pytest.raises(FileNotFoundError, match="dev-v1.1.json"):
        squad_data.read_folder(tmp_path)


def test_ambiguous_folder_error_lists_files(tmp_path):
    write_jsonl(tmp_path / "train_a.jsonl", [])
    write_jsonl(tmp_path / "train_b.jsonl", [])
    with pytest.raises(ValueError, match="train_a.jsonl, train_b.jsonl"):
        squad_data.find_split_file(tmp_path, "train")


def test_json_not_official_layout_rejected(tmp_path):
    (tmp_path / "train.json").write_text(json.dumps([{"question": "q"}]), encoding="utf-8")
    with pytest.raises(ValueError, match="official SQuAD JSON layout"):
        squad_data.read_split_file(tmp_path / "train.json")


@pytest.mark.parametrize(
    "row, message",
    [
        ({"context": "c", "question": "q"}, "missing field"),
        ({"context": "c", "question": "q", "answers": []}, "no gold answer"),
        ({"context": "c", "question": "q", "answers": [1, 2]}, "invalid answers"),
        ({"context": "c", "question": "q", "answers": "x"}, "invalid answers"),
    ],
)
def test_jsonl_bad_rows_rejected(tmp_path, row, message):
    write_jsonl(tmp_path / "train.jsonl", [row])
    with pytest.raises(ValueError, match=message):
        squad_data.read_jsonl(tmp_path / "train.jsonl")


def test_jsonl_invalid_json_names_line(tmp_path):
    (tmp_path / "train.jsonl").write_text('{"context": "c x", "question": "q", "answers": ["x"]}\n{not json\n', encoding="utf-8")
    with pytest.raises(ValueError, match="line 2: invalid JSON"):
        squad_data.read_jsonl(tmp_path / "train.jsonl")


def test_hub_failure_suggests_local_data(monkeypatch):
    import datasets

    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'squad' on the Hub (offline)")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(RuntimeError, match="set data to 'demo' or a local folder"):
        get_task("squad").load(recipe("hub"))


def test_hub_rows_converted():
    row = {"id": 5, "title": "T", "context": "c x", "question": "q", "answers": {"text": ["x", "x"], "answer_start": [2, 2]}}
    assert squad_data.hub_row_to_example(row) == {"id": "5", "title": "T", "context": "c x", "question": "q", "answers": ["x", "x"]}


def test_demo_data_loads_with_valid_spans():
    folder = squad_data.demo_folder()
    documents = {name: json.loads((folder / name).read_text(encoding="utf-8")) for name in ("train.json", "dev.json")}
    num_questions = 0
    for document in documents.values():
        for article in document["data"]:
            for paragraph in article["paragraphs"]:
                for qa in paragraph["qas"]:
                    num_questions += 1
                    for answer in qa["answers"]:
                        start = answer["answer_start"]
                        assert paragraph["context"][start : start + len(answer["text"])] == answer["text"]
    assert num_questions >= 500

    splits = get_task("squad").load(recipe("demo", num_train=100, num_dev=50, num_eval=60))
    assert (len(splits.train), len(splits.dev), len(splits.eval)) == (100, 50, 60)
    assert all(len(example["answers"]) == 1 for example in splits.train)
    assert any(len(example["answers"]) > 1 for example in splits.eval)


def test_demo_files_match_generator():
    folder = squad_data.demo_folder()
    for name, text in make_demo_squad.build_all().items():
        assert (folder / name).read_text(encoding="utf-8") == text, f"rerun python -m paczero.data.make_demo_squad ({name} differs)"


def test_small_pool_gives_smaller_dev(tmp_path, caplog):
    write_jsonl(tmp_path / "train.jsonl", [{"id": str(i), "context": "c x", "question": "q", "answers": ["x"]} for i in range(5)])
    write_jsonl(tmp_path / "dev.jsonl", [{"id": "d", "context": "c x", "question": "q", "answers": ["x"]}])
    splits = get_task("squad").load(recipe(tmp_path, num_train=3, num_dev=4, num_eval=2))
    assert len(splits.train) == 3
    assert len(splits.dev) == 2
    assert not set(ids(splits.train)) & set(ids(splits.dev))
    assert "fewer than num_train + num_dev" in caplog.text


def test_missing_data_seed_rejected():
    with pytest.raises(ValueError, match="data_seed"):
        get_task("squad").load({"data": "demo", "num_train": 1, "num_dev": 1, "num_eval": 1})

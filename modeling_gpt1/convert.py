"""Convert GPT-1 checkpoints into GPT-1 folders and back.

    python -m modeling_gpt1.convert --from openai SRC DST [--n_head 12]   # OpenAI's 2018 release (.npy shards)
    python -m modeling_gpt1.convert --from transformers SRC DST           # Transformers' `openai-gpt` folder
    python -m modeling_gpt1.convert --to transformers SRC DST             # GPT-1 folder -> `openai-gpt` folder

The weights are the same numbers under other names: all three store the blocks' linear weights `[in, out]` (the
release as `[1, in, out]` 1-D convolutions). Neither source has the special tokens that fine-tuning
needs, so `_start_`, `_delimiter_`, `_classify_` and `<pad>` are appended to the vocabulary (unless a source
tokenizer already has them) with freshly initialised embedding rows, and their ids recorded in the config. DST is
written into a temporary folder beside it and renamed at the end, so a failed conversion leaves nothing behind.
"""

import argparse
import contextlib
import json
import logging
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
from transformers import OpenAIGPTConfig, OpenAIGPTLMHeadModel, OpenAIGPTTokenizer

from .configuration_gpt1 import SPECIAL_TOKENS, GPT1Config
from .modeling_gpt1 import GPT1LMHeadModel, GPT1PreTrainedModel
from .reporting import USER_ERRORS, OneLineErrors, exit_with_one_line


logger = logging.getLogger(__name__)

# The released checkpoint: `params_shapes.json` plus the values of all arrays, concatenated and cut into 10 files.
OPENAI_NUM_SHARDS = 10
OPENAI_BLOCK_PARAMS = (
    "attn/c_attn/w",
    "attn/c_attn/b",
    "attn/c_proj/w",
    "attn/c_proj/b",
    "ln_1/g",
    "ln_1/b",
    "mlp/c_fc/w",
    "mlp/c_fc/b",
    "mlp/c_proj/w",
    "mlp/c_proj/b",
    "ln_2/g",
    "ln_2/b",
)
OPENAI_TOKENIZER_FILES = ("encoder_bpe_40000.json", "vocab_40000.bpe")

# Transformers' `openai-gpt` activation names -> ours ("gelu" there is the tanh approximation, our "gelu_new").
_AFN_FROM_TRANSFORMERS = {"gelu": "gelu_new", "relu": "relu", "silu": "silu", "swish": "silu"}
_AFN_TO_TRANSFORMERS = {"gelu_new": "gelu", "relu": "relu", "silu": "silu"}
_SHARED_CONFIG_FIELDS = (
    "n_positions",
    "n_embd",
    "n_layer",
    "n_head",
    "resid_pdrop",
    "embd_pdrop",
    "attn_pdrop",
    "layer_norm_epsilon",
    "initializer_range",
)
# Embedding names of Transformers' `openai-gpt` -> ours; the block names are the same in both.
_EMBEDDING_NAMES = {
    "transformer.tokens_embed.": "transformer.wte.",
    "transformer.positions_embed.": "transformer.wpe.",
}


# --------------------------------------------------------------------------------------------------------------------
# OpenAI's 2018 release


def convert_openai_checkpoint(src, dst, n_head: int = 12) -> Path:
    """Convert OpenAI's released `model/` folder (`params_shapes.json`, `params_{0..9}.npy`) into a GPT-1 folder.

    The architecture is read off the shapes (layers, width, feed-forward width, context, vocabulary); the number of
    heads is not visible in them, hence `n_head`. The special tokens get the ids after the vocabulary (40478..40481
    for the real files). The tokenizer is converted too when `encoder_bpe_40000.json` and `vocab_40000.bpe` are there.

    Raises:
        FileNotFoundError: SRC, `params_shapes.json` or a shard is missing.
        FileExistsError: DST exists and is not an empty folder.
        ValueError: `params_shapes.json` is not valid JSON or not a list of shapes, a shard is truncated or damaged
            (the message names the file), the shapes are not a GPT-1's, or `n_head` does not divide the width.
    """
    src = _check_paths(src, dst)
    arrays = _read_openai_arrays(src)
    vocab_size, n_embd = arrays[1].shape
    n_positions = arrays[0].shape[0]
    n_layer = (len(arrays) - 2) // len(OPENAI_BLOCK_PARAMS)
    n_inner = arrays[2 + OPENAI_BLOCK_PARAMS.index("mlp/c_fc/w")].shape[-1]
    if not isinstance(n_head, int) or n_head < 1 or n_embd % n_head:
        raise ValueError(f"n_head={n_head!r}: the release's width n_embd={n_embd} must be divisible by n_head")
    config = GPT1Config(
        vocab_size=vocab_size + len(SPECIAL_TOKENS),
        n_positions=n_positions,
        n_embd=n_embd,
        n_layer=n_layer,
        n_head=n_head,
        n_inner=None if n_inner == 4 * n_embd else n_inner,  # None: the 4x ratio, kept if n_embd changes
        **_appended_special_ids(vocab_size),
    )

    state_dict = {
        "transformer.wpe.weight": torch.from_numpy(arrays[0]),
        "transformer.wte.weight": torch.from_numpy(arrays[1]),
    }
    for i in range(n_layer):
        for j, name in enumerate(OPENAI_BLOCK_PARAMS):
            module, kind = name.rsplit("/", 1)
            value = torch.from_numpy(arrays[2 + i * len(OPENAI_BLOCK_PARAMS) + j])
            if kind == "w":  # a 1-D convolution [1, in, out] -> Conv1D [in, out]
                value = value[0]
            suffix = "bias" if kind == "b" else "weight"
            state_dict[f"transformer.h.{i}.{module.replace('/', '.')}.{suffix}"] = value
    model = _build_gpt1(config, state_dict)

    encoder_json, bpe_merges = (src / name for name in OPENAI_TOKENIZER_FILES)
    tokenizer = None
    if not (encoder_json.is_file() and bpe_merges.is_file()):
        logger.info("No %s + %s in %s: converting the weights only", *OPENAI_TOKENIZER_FILES, src)
    elif (GPT1Tokenizer := _import_gpt1_tokenizer()) is not None:
        tokenizer = GPT1Tokenizer.from_original_files(encoder_json, bpe_merges)
    return _save(dst, model, tokenizer)


def _read_openai_arrays(src: Path) -> list[np.ndarray]:
    """The release's arrays in file order, with every shape checked against one consistent GPT-1 architecture."""
    shapes_file = src / "params_shapes.json"
    if not shapes_file.is_file():
        raise FileNotFoundError(f"{shapes_file} not found: SRC must be the release's model/ folder")
    shapes = _read_openai_shapes(shapes_file)
    _check_openai_shapes(shapes)

    shards = [src / f"params_{i}.npy" for i in range(OPENAI_NUM_SHARDS)]
    missing = [shard.name for shard in shards if not shard.is_file()]
    if missing:
        raise FileNotFoundError(
            f"The release is split into {OPENAI_NUM_SHARDS} files params_0.npy..params_{OPENAI_NUM_SHARDS - 1}.npy; "
            f"{', '.join(missing)} missing from {src}"
        )
    values = np.concatenate([_read_openai_shard(shard) for shard in shards])
    sizes = [int(np.prod(shape)) for shape in shapes]
    if values.size != sum(sizes):
        raise ValueError(
            f"The shards in {src} hold {values.size} values but params_shapes.json describes {sum(sizes)}: "
            "a shard is truncated or comes from another checkpoint"
        )
    pieces = np.split(values.astype(np.float32, copy=False), np.cumsum(sizes)[:-1])
    return [piece.reshape(shape) for piece, shape in zip(pieces, shapes)]


def _read_openai_shapes(shapes_file: Path) -> list[tuple[int, ...]]:
    """The list of array shapes in `params_shapes.json`; ValueError naming the file when it is not one."""
    try:
        shapes = json.loads(shapes_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{shapes_file} is not valid JSON ({error}): the file is truncated or damaged") from None
    valid = isinstance(shapes, list) and all(
        isinstance(shape, list) and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)
        for shape in shapes
    )
    if not valid:
        raise ValueError(f"{shapes_file} must hold a list of array shapes (lists of non-negative integers)")
    return [tuple(shape) for shape in shapes]


def _read_openai_shard(shard: Path) -> np.ndarray:
    """The values of one `params_N.npy` file, flattened; ValueError naming the file when it cannot be read."""
    try:
        values = np.load(shard, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise ValueError(f"{shard} is not a readable .npy array ({error}): the file is truncated or damaged") from None
    if not np.issubdtype(values.dtype, np.floating):
        raise ValueError(f"{shard} holds {values.dtype} values; the release's shards hold float32")
    return values.reshape(-1)


def _check_openai_shapes(shapes: list[tuple]) -> None:
    """Positions [P, C], tokens [V, C], then per block the 12 arrays of `OPENAI_BLOCK_PARAMS` in their shapes."""
    per_block = len(OPENAI_BLOCK_PARAMS)
    if len(shapes) < 2 + per_block or (len(shapes) - 2) % per_block:
        raise ValueError(
            f"params_shapes.json lists {len(shapes)} arrays; a GPT-1 checkpoint has 2 embeddings plus {per_block} "
            f"arrays per block (2 + {per_block} * n_layer, e.g. 146 for 12 blocks)"
        )
    if len(shapes[0]) != 2 or len(shapes[1]) != 2 or shapes[0][1] != shapes[1][1]:
        raise ValueError(
            f"The first two arrays must be the position [n_positions, n_embd] and token [vocab, n_embd] embeddings, "
            f"got shapes {list(shapes[0])} and {list(shapes[1])}"
        )
    width = shapes[1][1]
    inner = shapes[2 + OPENAI_BLOCK_PARAMS.index("mlp/c_fc/w")][-1]
    expected = {
        "attn/c_attn/w": (1, width, 3 * width),
        "attn/c_attn/b": (3 * width,),
        "attn/c_proj/w": (1, width, width),
        "attn/c_proj/b": (width,),
        "ln_1/g": (width,),
        "ln_1/b": (width,),
        "mlp/c_fc/w": (1, width, inner),
        "mlp/c_fc/b": (inner,),
        "mlp/c_proj/w": (1, inner, width),
        "mlp/c_proj/b": (width,),
        "ln_2/g": (width,),
        "ln_2/b": (width,),
    }
    for index, shape in enumerate(shapes[2:], start=2):
        block, position = divmod(index - 2, per_block)
        name = OPENAI_BLOCK_PARAMS[position]
        if shape != expected[name]:
            raise ValueError(
                f"Array {index} (block {block} {name}) has shape {list(shape)}, expected {list(expected[name])} "
                f"for n_embd={width}, n_inner={inner}"
            )


# --------------------------------------------------------------------------------------------------------------------
# Transformers' `openai-gpt`


def convert_from_transformers(src, dst) -> Path:
    """Convert a saved `OpenAIGPTLMHeadModel` (or `OpenAIGPTModel`) folder into a GPT-1 folder.

    Special tokens the source tokenizer already has (`_start_`, `_delimiter_`, `_classify_`, a pad token) keep their
    ids; the others are appended after the vocabulary with new embedding rows drawn like the rest, N(0, init range).
    """
    src = _check_paths(src, dst)
    source = OpenAIGPTLMHeadModel.from_pretrained(src, dtype=torch.float32)
    source_config = source.config
    if source_config.afn not in _AFN_FROM_TRANSFORMERS:
        raise ValueError(f"{src} uses afn={source_config.afn!r}, which has no GPT-1 equivalent")

    source_tokenizer = _load_openai_gpt_tokenizer(src)
    special_ids, vocab_size = _special_ids_for(source_config.vocab_size, source_tokenizer)
    config = GPT1Config(
        vocab_size=vocab_size,
        afn=_AFN_FROM_TRANSFORMERS[source_config.afn],
        classifier_dropout=source_config.summary_first_dropout,
        **{field: getattr(source_config, field) for field in _SHARED_CONFIG_FIELDS},
        **special_ids,
    )
    state_dict = {}
    for key, value in source.state_dict().items():
        if key == "lm_head.weight":  # tied to the token embedding
            continue
        for theirs, ours in _EMBEDDING_NAMES.items():
            key = key.replace(theirs, ours)
        state_dict[key] = value
    model = _build_gpt1(config, state_dict)

    tokenizer = _gpt1_tokenizer_from_openai_gpt(source_tokenizer) if source_tokenizer is not None else None
    return _save(dst, model, tokenizer)


def openai_gpt_config(config: GPT1Config, **fields) -> OpenAIGPTConfig:
    """Transformers' `openai-gpt` config of `config`'s shape (`fields` added or replacing its own).

    Transformers' `openai-gpt` has a fixed `4 * n_embd` feed-forward and knows only ReLU, SiLU and the tanh GELU;
    other GPT-1 shapes raise `ValueError`.
    """
    if config.feed_forward_width != 4 * config.n_embd:
        raise ValueError(
            f"the model has n_inner={config.n_inner}; Transformers' openai-gpt only supports 4 * n_embd = "
            f"{4 * config.n_embd}"
        )
    if config.afn not in _AFN_TO_TRANSFORMERS:
        raise ValueError(
            f"the model uses afn={config.afn!r}; Transformers' openai-gpt supports only {sorted(_AFN_TO_TRANSFORMERS)}"
        )
    shared = {field: getattr(config, field) for field in _SHARED_CONFIG_FIELDS}
    return OpenAIGPTConfig(
        **{
            "vocab_size": config.vocab_size,
            "afn": _AFN_TO_TRANSFORMERS[config.afn],
            "summary_first_dropout": config.classifier_dropout,
            "pad_token_id": config.pad_token_id,
            **shared,
            **fields,
        }
    )


def openai_gpt_state_dict(model: GPT1PreTrainedModel) -> dict[str, torch.Tensor]:
    """`model`'s weights under `openai-gpt`'s names (the blocks' names and `[in, out]` layout are the same in both);
    the tied LM head is left out, as `openai-gpt` ties it itself."""
    state_dict = {}
    for key, value in model.state_dict().items():
        if key == "lm_head.weight":
            continue
        for theirs, ours in _EMBEDDING_NAMES.items():
            key = key.replace(ours, theirs)
        state_dict[key] = value
    return state_dict


def to_openai_gpt(model: GPT1LMHeadModel) -> OpenAIGPTLMHeadModel:
    """Transformers' `OpenAIGPTLMHeadModel` holding `model`'s weights, in memory (in `model`'s train/eval mode).
    Raises `ValueError` for a shape `openai-gpt` cannot hold (see `openai_gpt_config`)."""
    reference = OpenAIGPTLMHeadModel(openai_gpt_config(model.config))
    _load_all(reference, openai_gpt_state_dict(model))
    return reference.train(model.training)


def convert_to_transformers(src, dst) -> Path:
    """Convert a GPT-1 folder into an `OpenAIGPTLMHeadModel` folder (the special-token rows stay in the embedding).
    A shape `openai-gpt` cannot hold raises `ValueError` naming the folder (see `openai_gpt_config`)."""
    src = _check_paths(src, dst)
    source = GPT1LMHeadModel.from_pretrained(src, dtype=torch.float32)
    try:
        model = to_openai_gpt(source)
    except ValueError as error:
        raise ValueError(f"{src}: {error}") from None
    tokenizer = _openai_gpt_tokenizer_from_gpt1(src)
    return _save(dst, model, tokenizer)


# --------------------------------------------------------------------------------------------------------------------
# Special tokens and tokenizers


def _appended_special_ids(vocab_size: int) -> dict[str, int]:
    return {field: vocab_size + offset for offset, field in enumerate(SPECIAL_TOKENS)}


def _special_ids_for(num_rows: int, source_tokenizer) -> tuple[dict[str, int], int]:
    """Ids of the four special tokens and the new vocabulary size for a source embedding of `num_rows` rows.

    A special token the source tokenizer already has keeps its id; the others follow the last id used by the
    embedding or the tokenizer, in the order start, delimiter, extract, pad (the order `GPT1Tokenizer` adds them in).
    """
    vocab = source_tokenizer.get_vocab() if source_tokenizer is not None else {}
    next_id = max(num_rows, len(vocab))
    special_ids = {}
    for field, token in SPECIAL_TOKENS.items():
        if token in vocab:
            special_ids[field] = vocab[token]
        else:
            special_ids[field] = next_id
            next_id += 1
    return special_ids, max(next_id, max(special_ids.values()) + 1)


def _load_openai_gpt_tokenizer(src: Path):
    """The source folder's `OpenAIGPTTokenizer` (`vocab.json` + `merges.txt`, or `tokenizer.json`), or None."""
    if not any((src / name).is_file() for name in ("tokenizer.json", "vocab.json")):
        logger.info("No tokenizer files in %s: converting the weights only", src)
        return None
    return OpenAIGPTTokenizer.from_pretrained(src)


def _vocab_and_merges(tokenizer) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """The BPE model's vocabulary (added tokens excluded) and merges of a `tokenizers`-backed tokenizer."""
    model = json.loads(tokenizer.backend_tokenizer.to_str())["model"]
    merges = [tuple(merge.split(" ")) if isinstance(merge, str) else tuple(merge) for merge in model["merges"]]
    return model["vocab"], merges


def _import_gpt1_tokenizer():
    """`GPT1Tokenizer`, or None (with a note) when its module cannot be imported."""
    try:
        from .tokenization_gpt1 import GPT1Tokenizer
    except ImportError as error:
        logger.warning("Skipping the tokenizer: modeling_gpt1.tokenization_gpt1 cannot be imported (%s)", error)
        return None
    return GPT1Tokenizer


def _gpt1_tokenizer_from_openai_gpt(source):
    """A `GPT1Tokenizer` with the ids of an `OpenAIGPTTokenizer`, its added tokens included, plus missing specials.

    Transformers 5 saves only `tokenizer.json`, so the vocabulary and merges come from the loaded tokenizer rather
    than from `vocab.json` / `merges.txt`.
    """
    GPT1Tokenizer = _import_gpt1_tokenizer()
    if GPT1Tokenizer is None:
        return None
    _, merges = _vocab_and_merges(source)
    vocab = source.get_vocab()
    unk_token = source.unk_token if source.unk_token in vocab else None
    return GPT1Tokenizer(vocab=vocab, merges=merges, unk_token=unk_token)


def _openai_gpt_tokenizer_from_gpt1(src: Path):
    """An `OpenAIGPTTokenizer` with the GPT-1 folder's vocabulary, merges and special tokens, or None.

    `openai-gpt` pre-tokenises like BERT (lower case, split on whitespace and punctuation), which cuts some texts
    into other words than GPT-1's spaCy-like split; every token keeps its id.
    """
    if not (src / "tokenizer.json").is_file():
        logger.info("No tokenizer in %s: converting the weights only", src)
        return None
    GPT1Tokenizer = _import_gpt1_tokenizer()
    if GPT1Tokenizer is None:
        return None
    source = GPT1Tokenizer.from_pretrained(src)
    vocab, merges = _vocab_and_merges(source)
    tokenizer = OpenAIGPTTokenizer(vocab=vocab, merges=merges, unk_token=source.unk_token or "<unk>")
    # Added in id order, so that each lands on the id it has in the GPT-1 tokenizer.
    added = sorted(source.added_tokens_encoder.items(), key=lambda item: item[1])
    tokenizer.add_special_tokens({"additional_special_tokens": [token for token, _ in added]})
    tokenizer.pad_token = source.pad_token
    _check_same_ids(tokenizer, source.get_vocab())
    return tokenizer


def _check_same_ids(tokenizer, vocab: dict[str, int]) -> None:
    mismatched = {token: tokenizer.convert_tokens_to_ids(token) for token in vocab}
    mismatched = {token: got for token, got in mismatched.items() if got != vocab[token]}
    if mismatched:
        examples = ", ".join(f"{token!r}: {vocab[token]} -> {got}" for token, got in list(mismatched.items())[:5])
        raise ValueError(f"The converted tokenizer changes {len(mismatched)} token ids ({examples})")


def _check_tokenizer_matches(tokenizer, config) -> None:
    """The tokenizer written next to the weights must give the special tokens the ids of the config."""
    for field, token in SPECIAL_TOKENS.items():
        got = getattr(tokenizer, field, None)
        if got != getattr(config, field):
            raise ValueError(
                f"The converted tokenizer gives {token} the id {got} but the model's config has "
                f"{field}={getattr(config, field)}"
            )


# --------------------------------------------------------------------------------------------------------------------
# Building and writing


def _build_gpt1(config: GPT1Config, state_dict: dict[str, torch.Tensor]) -> GPT1LMHeadModel:
    """A GPT-1 LM with the given weights; token-embedding rows beyond the source's keep the model's own init."""
    model = GPT1LMHeadModel(config)
    wte = model.transformer.wte.weight
    source_rows = state_dict["transformer.wte.weight"]
    state_dict = {**state_dict, "transformer.wte.weight": torch.cat([source_rows, wte[len(source_rows) :].detach()])}
    _load_all(model, state_dict)
    return model


def _load_all(model, state_dict: dict[str, torch.Tensor]) -> None:
    """`load_state_dict` that tolerates only the tied LM head being absent, and checks every shape."""
    own = model.state_dict()
    unexpected = sorted(set(state_dict) - set(own))
    missing = sorted(set(own) - set(state_dict) - {"lm_head.weight"})
    if unexpected or missing:
        raise ValueError(f"Weights do not fit {type(model).__name__}: missing {missing}, unexpected {unexpected}")
    for key, value in state_dict.items():
        if tuple(value.shape) != tuple(own[key].shape):
            raise ValueError(f"{key} has shape {list(value.shape)} but the model expects {list(own[key].shape)}")
    model.load_state_dict(state_dict, strict=False)
    if model.lm_head.weight.data_ptr() != model.get_input_embeddings().weight.data_ptr():
        raise RuntimeError("The LM head is not tied to the token embedding after loading")


def _save(dst, model, tokenizer) -> Path:
    """Write model (and tokenizer) into DST atomically: a temporary folder beside it, renamed when complete."""
    if tokenizer is not None and isinstance(model, GPT1LMHeadModel):
        _check_tokenizer_matches(tokenizer, model.config)
    with _atomic_directory(dst) as folder:
        model.save_pretrained(folder)
        if tokenizer is not None:
            tokenizer.save_pretrained(folder)
    logger.info("Wrote %s to %s", type(model).__name__, dst)
    return Path(dst)


def _check_paths(src, dst) -> Path:
    """Fail before any work when SRC is not a folder or DST would overwrite something."""
    src = Path(src)
    if not src.is_dir():
        raise FileNotFoundError(f"Source folder {src} does not exist")
    _check_destination(Path(dst))
    return src


def _check_destination(dst: Path) -> None:
    if dst.exists() and (not dst.is_dir() or any(dst.iterdir())):
        raise FileExistsError(f"{dst} already exists and is not an empty folder; choose another destination")


@contextlib.contextmanager
def _atomic_directory(dst):
    """Yield a temporary folder next to `dst` that becomes `dst` on success and disappears on failure."""
    dst = Path(dst)
    _check_destination(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", suffix=".partial", dir=dst.parent))
    try:
        yield scratch
        if dst.exists():
            dst.rmdir()  # empty, checked above
        scratch.rename(dst)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise


# --------------------------------------------------------------------------------------------------------------------
# Command line


class _ArgumentParser(OneLineErrors, argparse.ArgumentParser):
    """Usage errors in one line, status 2."""


def main(argv=None) -> None:
    """Command line. A user error (missing or damaged source files, a non-empty destination, a conversion the target
    cannot express) prints one line and exits with status 2; argparse's own errors also exit with 2."""
    parser = _ArgumentParser(
        prog="python -m modeling_gpt1.convert",
        description="Convert GPT-1 checkpoints: OpenAI's 2018 release or Transformers' openai-gpt into a GPT-1 "
        "folder, or a GPT-1 folder into openai-gpt.",
    )
    direction = parser.add_mutually_exclusive_group(required=True)
    direction.add_argument("--from", dest="source_format", choices=("openai", "transformers"), help="format of SRC")
    direction.add_argument("--to", dest="target_format", choices=("transformers",), help="format of DST")
    parser.add_argument("src", help="folder to read")
    parser.add_argument("dst", help="folder to create (must not exist, or be empty)")
    parser.add_argument(
        "--n_head", type=int, help="attention heads of an OpenAI release (default 12; its shapes do not show it)"
    )
    args = parser.parse_args(argv)
    if args.n_head is not None and args.source_format != "openai":
        parser.error("--n_head applies to --from openai only (the other formats record it in their config)")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    try:
        if args.source_format == "openai":
            convert_openai_checkpoint(args.src, args.dst, n_head=12 if args.n_head is None else args.n_head)
        elif args.source_format == "transformers":
            convert_from_transformers(args.src, args.dst)
        else:
            convert_to_transformers(args.src, args.dst)
    except USER_ERRORS as error:  # a missing or damaged file, an impossible conversion: one line, status 2
        exit_with_one_line(parser, str(error))


if __name__ == "__main__":
    main()

"""Checkpoint conversion: Transformers' openai-gpt both ways, OpenAI's .npy release, tokenizers, failure modes."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import OpenAIGPTConfig, OpenAIGPTLMHeadModel, OpenAIGPTTokenizer

from modeling_gpt1 import GPT1Config, GPT1LMHeadModel
from modeling_gpt1.convert import (
    OPENAI_BLOCK_PARAMS,
    convert_from_transformers,
    convert_openai_checkpoint,
    convert_to_transformers,
    main,
)
from modeling_gpt1.tokenization_gpt1 import GPT1Tokenizer


SPECIAL_FIELDS = ("start_token_id", "delimiter_token_id", "extract_token_id", "pad_token_id")
# (n_layer, n_head, n_embd): a single head and block, the tiny default, and odd head widths.
SHAPES = [(1, 1, 16), (2, 4, 32), (3, 2, 24)]
ATTENTION = ["eager", "sdpa"]

# A tiny BPE vocabulary and its merges, consistent for both tokenizer classes.
VOCAB = {"<unk>": 0, "a": 1, "b": 2, "c": 3, "a</w>": 4, "b</w>": 5, "c</w>": 6, "ab": 7, "ab</w>": 8, "abc</w>": 9}
MERGES = [("a", "b</w>"), ("a", "b"), ("ab", "c</w>")]
TEXT = "ab abc c a ba"


def openai_gpt(n_layer=2, n_head=4, n_embd=32, vocab_size=50, seed=0, **overrides) -> OpenAIGPTLMHeadModel:
    torch.manual_seed(seed)
    config = OpenAIGPTConfig(
        vocab_size=vocab_size, n_positions=16, n_embd=n_embd, n_layer=n_layer, n_head=n_head, **overrides
    )
    return OpenAIGPTLMHeadModel(config).eval()


def gpt1(n_layer=2, n_head=4, n_embd=32, vocab_size=54, seed=0, **overrides) -> GPT1LMHeadModel:
    torch.manual_seed(seed)
    config = GPT1Config(
        vocab_size=vocab_size, n_positions=16, n_embd=n_embd, n_layer=n_layer, n_head=n_head, **overrides
    )
    return GPT1LMHeadModel(config).eval()


def padded_batch(vocab_size: int, side: str, seed: int = 0):
    """Random ids of 3 rows, 9 columns, the second and third padded (ids 0 there) on `side`, and explicit positions
    that count real tokens from 0 (openai-gpt numbers columns, not tokens, so both models get the same positions)."""
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(0, vocab_size, (3, 9), generator=generator)
    lengths = torch.tensor([9, 6, 2])
    columns = torch.arange(9).expand(3, -1)
    real = columns < lengths[:, None] if side == "right" else columns >= (9 - lengths)[:, None]
    attention_mask = real.long()
    input_ids = input_ids * attention_mask
    position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    return input_ids, attention_mask, position_ids


def assert_same_logits(ours, theirs, vocab_size: int):
    """Logits over the source vocabulary agree at every real token, for right and for left padding."""
    for side in ("right", "left"):
        input_ids, attention_mask, position_ids = padded_batch(vocab_size, side)
        with torch.no_grad():
            a = ours(input_ids, attention_mask=attention_mask, position_ids=position_ids).logits[..., :vocab_size]
            b = theirs(input_ids, attention_mask=attention_mask, position_ids=position_ids).logits[..., :vocab_size]
        real = attention_mask.bool()
        assert (a[real] - b[real]).abs().max().item() < 1e-5, side


@pytest.mark.parametrize("attn_implementation", ATTENTION)
@pytest.mark.parametrize("n_layer, n_head, n_embd", SHAPES)
def test_from_transformers_matches_openai_gpt(tmp_path, n_layer, n_head, n_embd, attn_implementation):
    source = openai_gpt(n_layer, n_head, n_embd)
    source.save_pretrained(tmp_path / "src")
    convert_from_transformers(tmp_path / "src", tmp_path / "dst")

    model = GPT1LMHeadModel.from_pretrained(tmp_path / "dst", attn_implementation=attn_implementation).eval()
    assert model.config._attn_implementation == attn_implementation
    assert_same_logits(model, source, vocab_size=50)


@pytest.mark.parametrize("attn_implementation", ATTENTION)
@pytest.mark.parametrize("n_layer, n_head, n_embd", SHAPES)
def test_to_transformers_matches_gpt1(tmp_path, n_layer, n_head, n_embd, attn_implementation):
    gpt1(n_layer, n_head, n_embd).save_pretrained(tmp_path / "src")
    convert_to_transformers(tmp_path / "src", tmp_path / "dst")

    source = GPT1LMHeadModel.from_pretrained(tmp_path / "src", attn_implementation=attn_implementation).eval()
    converted = OpenAIGPTLMHeadModel.from_pretrained(tmp_path / "dst").eval()
    assert converted.config.vocab_size == source.config.vocab_size == 54  # special-token rows kept
    assert_same_logits(source, converted, vocab_size=54)


def test_from_transformers_maps_config_and_appends_special_tokens(tmp_path):
    source = openai_gpt(
        vocab_size=50,
        afn="relu",
        resid_pdrop=0.05,
        embd_pdrop=0.15,
        attn_pdrop=0.2,
        summary_first_dropout=0.3,
        layer_norm_epsilon=1e-6,
        initializer_range=0.5,
    )
    source.save_pretrained(tmp_path / "src")
    convert_from_transformers(tmp_path / "src", tmp_path / "dst")
    model = GPT1LMHeadModel.from_pretrained(tmp_path / "dst")
    config = model.config

    assert (config.n_layer, config.n_head, config.n_embd, config.n_positions) == (2, 4, 32, 16)
    assert (config.n_inner, config.feed_forward_width) == (None, 128)  # 4 * n_embd, kept None as GPT-2 does
    assert (config.resid_pdrop, config.embd_pdrop, config.attn_pdrop) == (0.05, 0.15, 0.2)
    assert (config.classifier_dropout, config.layer_norm_epsilon, config.initializer_range) == (0.3, 1e-6, 0.5)
    assert config.afn == "relu"
    assert config.vocab_size == 54
    assert [getattr(config, field) for field in SPECIAL_FIELDS] == [50, 51, 52, 53]

    embeddings = model.transformer.wte.weight.detach()
    torch.testing.assert_close(embeddings[:50], source.transformer.tokens_embed.weight.detach(), rtol=0, atol=0)
    new_rows = embeddings[50:]
    assert abs(new_rows.mean().item()) < 0.15  # 128 draws of N(0, 0.5): the mean's std is 0.044
    assert 0.4 < new_rows.std().item() < 0.6  # the source's init range, not the default 0.02


def test_from_transformers_maps_tanh_gelu_and_back(tmp_path):
    openai_gpt().save_pretrained(tmp_path / "src")  # afn="gelu", openai-gpt's tanh approximation
    convert_from_transformers(tmp_path / "src", tmp_path / "gpt1")
    assert GPT1Config.from_pretrained(tmp_path / "gpt1").afn == "gelu_new"
    convert_to_transformers(tmp_path / "gpt1", tmp_path / "back")
    assert OpenAIGPTConfig.from_pretrained(tmp_path / "back").afn == "gelu"


@pytest.mark.parametrize(
    "overrides, message",
    [({"n_inner": 100}, "n_inner=100"), ({"afn": "gelu"}, "afn='gelu'")],  # erf GELU: openai-gpt has no such option
)
def test_to_transformers_refuses_what_openai_gpt_cannot_express(tmp_path, overrides, message):
    gpt1(**overrides).save_pretrained(tmp_path / "src")
    with pytest.raises(ValueError, match=message):
        convert_to_transformers(tmp_path / "src", tmp_path / "dst")
    assert not (tmp_path / "dst").exists()


def openai_gpt_tokenizer(*added: str) -> OpenAIGPTTokenizer:
    tokenizer = OpenAIGPTTokenizer(vocab=VOCAB, merges=MERGES)
    if added:
        tokenizer.add_special_tokens({"additional_special_tokens": list(added)})
    return tokenizer


def test_from_transformers_converts_tokenizer(tmp_path):
    openai_gpt(vocab_size=len(VOCAB)).save_pretrained(tmp_path / "src")
    source_tokenizer = openai_gpt_tokenizer()
    source_tokenizer.save_pretrained(tmp_path / "src")
    convert_from_transformers(tmp_path / "src", tmp_path / "dst")

    config = GPT1Config.from_pretrained(tmp_path / "dst")
    tokenizer = GPT1Tokenizer.from_pretrained(tmp_path / "dst")
    assert [getattr(tokenizer, field) for field in SPECIAL_FIELDS] == [getattr(config, f) for f in SPECIAL_FIELDS]
    assert [getattr(config, field) for field in SPECIAL_FIELDS] == [10, 11, 12, 13]
    assert len(tokenizer) == config.vocab_size == 14
    assert {token: tokenizer.convert_tokens_to_ids(token) for token in VOCAB} == VOCAB
    assert tokenizer(TEXT).input_ids == source_tokenizer(TEXT).input_ids


def test_from_transformers_keeps_special_tokens_the_source_already_has(tmp_path):
    # As in Transformers' old fine-tuning example: the three tokens added to the tokenizer, embeddings resized.
    source_tokenizer = openai_gpt_tokenizer("_start_", "_delimiter_", "_classify_")
    openai_gpt(vocab_size=len(source_tokenizer)).save_pretrained(tmp_path / "src")
    source_tokenizer.save_pretrained(tmp_path / "src")
    convert_from_transformers(tmp_path / "src", tmp_path / "dst")

    config = GPT1Config.from_pretrained(tmp_path / "dst")
    tokenizer = GPT1Tokenizer.from_pretrained(tmp_path / "dst")
    assert [getattr(config, field) for field in SPECIAL_FIELDS] == [10, 11, 12, 13]  # only <pad> is new
    assert config.vocab_size == 14
    assert [getattr(tokenizer, field) for field in SPECIAL_FIELDS] == [10, 11, 12, 13]


def test_to_transformers_converts_tokenizer(tmp_path):
    source_tokenizer = GPT1Tokenizer(vocab=VOCAB, merges=MERGES)
    gpt1(vocab_size=len(source_tokenizer)).save_pretrained(tmp_path / "src")
    source_tokenizer.save_pretrained(tmp_path / "src")
    convert_to_transformers(tmp_path / "src", tmp_path / "dst")

    tokenizer = OpenAIGPTTokenizer.from_pretrained(tmp_path / "dst")
    assert tokenizer.get_vocab() == source_tokenizer.get_vocab()
    assert tokenizer.pad_token == "<pad>" and tokenizer.pad_token_id == source_tokenizer.pad_token_id
    assert tokenizer.convert_ids_to_tokens(tokenizer("_start_ ab _classify_").input_ids) == [
        "_start_",
        "ab</w>",
        "_classify_",
    ]


# ---------------------------------------------------------------------------------------------------------------------
# OpenAI's release layout


def release_arrays(n_layer, n_embd, n_positions, vocab_size, seed=0) -> list[tuple[str, np.ndarray]]:
    """Random arrays named and shaped as in the release: positions, tokens, then 12 arrays per block."""
    rng = np.random.default_rng(seed)
    inner = 4 * n_embd
    shapes = {
        "attn/c_attn/w": (1, n_embd, 3 * n_embd),
        "attn/c_attn/b": (3 * n_embd,),
        "attn/c_proj/w": (1, n_embd, n_embd),
        "attn/c_proj/b": (n_embd,),
        "ln_1/g": (n_embd,),
        "ln_1/b": (n_embd,),
        "mlp/c_fc/w": (1, n_embd, inner),
        "mlp/c_fc/b": (inner,),
        "mlp/c_proj/w": (1, inner, n_embd),
        "mlp/c_proj/b": (n_embd,),
        "ln_2/g": (n_embd,),
        "ln_2/b": (n_embd,),
    }
    named = [("positions", (n_positions, n_embd)), ("tokens", (vocab_size, n_embd))]
    named += [(f"h{i}/{name}", shapes[name]) for i in range(n_layer) for name in OPENAI_BLOCK_PARAMS]
    arrays = []
    for name, shape in named:
        scale = 0.1 if name.endswith("/g") else 0.3
        value = rng.normal(1.0 if name.endswith("/g") else 0.0, scale, shape).astype(np.float32)
        arrays.append((name, value))
    return arrays


def write_release(folder: Path, arrays) -> Path:
    """`params_shapes.json` and the concatenated values cut into 10 `.npy` files with `np.array_split`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "params_shapes.json").write_text(json.dumps([list(value.shape) for _, value in arrays]))
    flat = np.concatenate([value.reshape(-1) for _, value in arrays])
    for i, shard in enumerate(np.array_split(flat, 10)):
        np.save(folder / f"params_{i}.npy", shard)
    return folder


def reference_logits(arrays: dict[str, np.ndarray], input_ids: np.ndarray, n_layer: int, n_head: int) -> np.ndarray:
    """GPT-1's forward written out from the release's arrays (float64): post-LN blocks, tanh GELU, tied output."""

    def layer_norm(x, g, b, eps=1e-5):
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + eps) * g + b

    def gelu(x):
        return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))

    arrays = {name: value.astype(np.float64) for name, value in arrays.items()}

    def conv1d(x, prefix):
        return x @ arrays[f"{prefix}/w"][0] + arrays[f"{prefix}/b"]

    batch, length = input_ids.shape
    x = arrays["tokens"][input_ids] + arrays["positions"][np.arange(length)]
    causal = np.tril(np.ones((length, length), dtype=bool))
    for i in range(n_layer):
        h = f"h{i}"
        q, k, v = np.split(conv1d(x, f"{h}/attn/c_attn"), 3, axis=-1)
        heads = lambda t: t.reshape(batch, length, n_head, -1).transpose(0, 2, 1, 3)  # noqa: E731
        q, k, v = heads(q), heads(k), heads(v)
        scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(q.shape[-1])
        scores = np.where(causal, scores, -np.inf)
        weights = np.exp(scores - scores.max(-1, keepdims=True))
        weights /= weights.sum(-1, keepdims=True)
        attended = (weights @ v).transpose(0, 2, 1, 3).reshape(batch, length, -1)
        x = layer_norm(x + conv1d(attended, f"{h}/attn/c_proj"), arrays[f"{h}/ln_1/g"], arrays[f"{h}/ln_1/b"])
        mlp = conv1d(gelu(conv1d(x, f"{h}/mlp/c_fc")), f"{h}/mlp/c_proj")
        x = layer_norm(x + mlp, arrays[f"{h}/ln_2/g"], arrays[f"{h}/ln_2/b"])
    return x @ arrays["tokens"].T


@pytest.mark.parametrize("n_layer, n_head, n_embd", SHAPES)
def test_openai_release_converts_exactly(tmp_path, n_layer, n_head, n_embd):
    vocab_size, n_positions = 40, 12
    arrays = release_arrays(n_layer, n_embd, n_positions, vocab_size)
    write_release(tmp_path / "model", arrays)
    convert_openai_checkpoint(tmp_path / "model", tmp_path / "dst", n_head=n_head)

    model = GPT1LMHeadModel.from_pretrained(tmp_path / "dst").eval()
    config = model.config
    assert (config.n_layer, config.n_head, config.n_embd, config.n_positions) == (n_layer, n_head, n_embd, n_positions)
    assert config.feed_forward_width == 4 * n_embd and config.afn == "gelu_new"
    assert config.vocab_size == vocab_size + 4
    assert [getattr(config, field) for field in SPECIAL_FIELDS] == [40, 41, 42, 43]

    params = model.state_dict()
    named = dict(arrays)
    torch.testing.assert_close(params["transformer.wpe.weight"].numpy(), named["positions"], rtol=0, atol=0)
    torch.testing.assert_close(params["transformer.wte.weight"][:vocab_size].numpy(), named["tokens"], rtol=0, atol=0)
    for name, value in arrays[2:]:
        block, rest = name.split("/", 1)
        module, kind = rest.rsplit("/", 1)
        key = f"transformer.h.{block[1:]}.{module.replace('/', '.')}.{'bias' if kind == 'b' else 'weight'}"
        expected = value[0] if kind == "w" else value
        torch.testing.assert_close(params[key].numpy(), expected, rtol=0, atol=0, msg=key)

    input_ids = np.random.default_rng(1).integers(0, vocab_size, (2, n_positions))
    with torch.no_grad():
        logits = model(torch.from_numpy(input_ids)).logits[..., :vocab_size].double().numpy()
    expected = reference_logits(named, input_ids, n_layer, n_head)
    assert np.abs(logits - expected).max() < 1e-5


def test_openai_release_converts_tokenizer(tmp_path):
    encoder = {token: i for i, token in enumerate(VOCAB)}
    write_release(tmp_path / "model", release_arrays(1, 16, 8, len(encoder)))
    (tmp_path / "model" / "encoder_bpe_40000.json").write_text(json.dumps(encoder))
    (tmp_path / "model" / "vocab_40000.bpe").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in MERGES))
    convert_openai_checkpoint(tmp_path / "model", tmp_path / "dst", n_head=2)

    config = GPT1Config.from_pretrained(tmp_path / "dst")
    tokenizer = GPT1Tokenizer.from_pretrained(tmp_path / "dst")
    assert [getattr(tokenizer, field) for field in SPECIAL_FIELDS] == [getattr(config, f) for f in SPECIAL_FIELDS]
    assert [getattr(config, field) for field in SPECIAL_FIELDS] == [10, 11, 12, 13]
    assert tokenizer.convert_ids_to_tokens(tokenizer("ab abc").input_ids) == ["ab</w>", "abc</w>"]


def corrupt_missing_shard(folder):
    (folder / "params_3.npy").unlink()


def corrupt_value_count(folder):
    np.save(folder / "params_9.npy", np.load(folder / "params_9.npy")[:-1])


def corrupt_entry_count(folder):
    shapes = json.loads((folder / "params_shapes.json").read_text())
    (folder / "params_shapes.json").write_text(json.dumps(shapes[:-1]))


def corrupt_block_shape(folder):
    shapes = json.loads((folder / "params_shapes.json").read_text())
    shapes[2 + 12 + OPENAI_BLOCK_PARAMS.index("mlp/c_proj/w")] = [1, 24, 16]  # block 1 with a narrower MLP
    (folder / "params_shapes.json").write_text(json.dumps(shapes))


def corrupt_shapes_file(folder):
    (folder / "params_shapes.json").unlink()


def corrupt_truncated_shard(folder):
    shard = folder / "params_3.npy"
    shard.write_bytes(shard.read_bytes()[:-20])


def corrupt_shard_header(folder):
    (folder / "params_7.npy").write_bytes(b"not a numpy file")


def corrupt_invalid_shapes_json(folder):
    shapes = folder / "params_shapes.json"
    shapes.write_text(shapes.read_text()[:-5])


def corrupt_shapes_not_a_list(folder):
    (folder / "params_shapes.json").write_text('{"positions": [12, 16]}')


def assert_nothing_written(parent: Path):
    """Neither DST nor a temporary folder beside it is left over."""
    assert not parent.exists() or list(parent.iterdir()) == []


@pytest.mark.parametrize(
    "corrupt, error, message",
    [
        (corrupt_missing_shard, FileNotFoundError, "params_3.npy missing"),
        (corrupt_value_count, ValueError, "hold {total_minus_one} values but params_shapes.json describes {total}"),
        (corrupt_entry_count, ValueError, "lists {entries_minus_one} arrays"),
        (corrupt_block_shape, ValueError, r"block 1 mlp/c_proj/w\) has shape \[1, 24, 16\], expected \[1, 64, 16\]"),
        (corrupt_shapes_file, FileNotFoundError, "params_shapes.json not found"),
        (corrupt_truncated_shard, ValueError, r"params_3.npy is not a readable .npy array .*truncated or damaged"),
        (corrupt_shard_header, ValueError, r"params_7.npy is not a readable .npy array"),
        (corrupt_invalid_shapes_json, ValueError, r"params_shapes.json is not valid JSON"),
        (corrupt_shapes_not_a_list, ValueError, r"params_shapes.json must hold a list of array shapes"),
    ],
)
def test_corrupted_release_fails_clearly_and_writes_nothing(tmp_path, corrupt, error, message):
    arrays = release_arrays(2, 16, 8, 20)
    folder = write_release(tmp_path / "model", arrays)
    total = sum(value.size for _, value in arrays)
    message = message.format(total=total, total_minus_one=total - 1, entries_minus_one=len(arrays) - 1)
    corrupt(folder)
    with pytest.raises(error, match=message):
        convert_openai_checkpoint(folder, tmp_path / "out" / "dst", n_head=2)
    assert_nothing_written(tmp_path / "out")


def test_failure_while_writing_leaves_no_destination(tmp_path, monkeypatch):
    folder = write_release(tmp_path / "model", release_arrays(1, 16, 8, 20))

    def fail_halfway(self, directory, **kwargs):
        (Path(directory) / "config.json").write_text("{}")
        raise OSError("disk full")

    monkeypatch.setattr(GPT1LMHeadModel, "save_pretrained", fail_halfway)
    with pytest.raises(OSError, match="disk full"):
        convert_openai_checkpoint(folder, tmp_path / "out" / "dst", n_head=2)
    assert_nothing_written(tmp_path / "out")


def test_refuses_to_overwrite_a_non_empty_destination(tmp_path):
    folder = write_release(tmp_path / "model", release_arrays(1, 16, 8, 20))
    (tmp_path / "dst").mkdir()
    (tmp_path / "dst" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not an empty folder"):
        convert_openai_checkpoint(folder, tmp_path / "dst", n_head=2)
    assert [path.name for path in (tmp_path / "dst").iterdir()] == ["keep.txt"]


def test_n_head_must_divide_the_width(tmp_path):
    folder = write_release(tmp_path / "model", release_arrays(1, 16, 8, 20))
    with pytest.raises(ValueError, match="divisible by n_head"):
        convert_openai_checkpoint(folder, tmp_path / "dst", n_head=3)
    assert not (tmp_path / "dst").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--from", "transformers", "A", "B", "--n_head", "4"], "--n_head applies to --from openai only"),
        (["--from", "tf", "A", "B"], "argument --from: invalid choice: 'tf'"),
        (["--from", "openai", "A"], "the following arguments are required: dst"),
        (["--from", "openai", "A", "B", "--n_head", "four"], "argument --n_head: invalid int value: 'four'"),
    ],
)
def test_main_usage_errors_are_one_line_and_status_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("python -m modeling_gpt1.convert: error: ") and message in lines[0]


def test_command_line(tmp_path):
    arrays = release_arrays(1, 16, 8, 20)
    write_release(tmp_path / "model", arrays)
    command = [sys.executable, "-m", "modeling_gpt1.convert", "--from", "openai", "--n_head", "2"]
    result = subprocess.run(
        [*command, str(tmp_path / "model"), str(tmp_path / "dst")],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert result.returncode == 0, result.stderr
    model = GPT1LMHeadModel.from_pretrained(tmp_path / "dst")
    assert model.config.n_head == 2 and model.config.vocab_size == 24
    torch.testing.assert_close(model.transformer.wpe.weight.detach().numpy(), arrays[0][1], rtol=0, atol=0)


def test_command_line_user_error_is_one_line_and_status_2(tmp_path):
    """A missing shard through the real command line (other user errors: `main` in the bad-input table)."""
    folder = write_release(tmp_path / "model", release_arrays(1, 16, 8, 20))
    corrupt_missing_shard(folder)
    result = subprocess.run(
        [sys.executable, "-m", "modeling_gpt1.convert", "--from", "openai", str(folder), str(tmp_path / "dst")],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("python -m modeling_gpt1.convert: error: "), result.stderr
    assert "params_3.npy missing" in lines[0] and "Traceback" not in result.stderr


def test_main_exits_2_on_a_non_empty_destination(tmp_path, capsys):
    folder = write_release(tmp_path / "model", release_arrays(1, 16, 8, 20))
    (tmp_path / "dst").mkdir()
    (tmp_path / "dst" / "keep.txt").write_text("mine")
    with pytest.raises(SystemExit) as exit_info:
        main(["--from", "openai", "--n_head", "2", str(folder), str(tmp_path / "dst")])
    assert exit_info.value.code == 2
    assert "not an empty folder" in capsys.readouterr().err


def test_missing_source_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        convert_from_transformers(tmp_path / "nowhere", tmp_path / "dst")
    assert not (tmp_path / "dst").exists()


def test_tokenizer_is_skipped_when_its_module_cannot_be_imported(tmp_path, monkeypatch, caplog):
    openai_gpt(vocab_size=len(VOCAB)).save_pretrained(tmp_path / "src")
    openai_gpt_tokenizer().save_pretrained(tmp_path / "src")
    monkeypatch.setitem(sys.modules, "modeling_gpt1.tokenization_gpt1", None)  # makes the import raise ImportError
    convert_from_transformers(tmp_path / "src", tmp_path / "dst")
    assert "Skipping the tokenizer" in caplog.text
    assert not (tmp_path / "dst" / "tokenizer.json").exists()
    assert GPT1LMHeadModel.from_pretrained(tmp_path / "dst").config.vocab_size == len(VOCAB) + 4

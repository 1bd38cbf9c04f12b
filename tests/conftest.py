"""Shared fixtures: a tiny GPT-1 shape that keeps every test to a fraction of a second on a CPU."""

import os


# Set before transformers / huggingface_hub are imported: the tests never reach the Hub.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"

import pytest  # noqa: E402
import torch  # noqa: E402

from modeling_gpt1 import GPT1Config, GPT1LMHeadModel  # noqa: E402


# initializer_range 0.2 rather than the paper's 0.02: with it a random model's next-token choice depends on the
# context (at 0.02 greedy decoding just repeats one token), so generation tests compare meaningful sequences.
TINY = dict(vocab_size=99, n_positions=64, n_embd=32, n_layer=2, n_head=4, initializer_range=0.2)


def make_config(**overrides) -> GPT1Config:
    """The tiny shape, with any field overridden (e.g. dropout 0 for training-mode comparisons)."""
    return GPT1Config(**{**TINY, **overrides})


def make_lm(seed: int = 0, **overrides) -> GPT1LMHeadModel:
    """A tiny LM head model with seeded random weights, in eval mode."""
    torch.manual_seed(seed)
    return GPT1LMHeadModel(make_config(**overrides)).eval()


@pytest.fixture
def config() -> GPT1Config:
    return make_config()


@pytest.fixture
def model() -> GPT1LMHeadModel:
    return make_lm()


@pytest.fixture
def eager_model() -> GPT1LMHeadModel:
    """Same weights as `model`, with the eager attention (the only backend that returns attention weights)."""
    return make_lm(attn_implementation="eager")


@pytest.fixture
def input_ids(config) -> torch.Tensor:
    """A batch of two 7-token rows of ordinary tokens (the special ids at the end of the vocabulary left out)."""
    return torch.randint(0, config.vocab_size - 4, (2, 7), generator=torch.Generator().manual_seed(1))


def pad_batch(rows: list[list[int]], pad_token_id: int, side: str = "left") -> tuple[torch.Tensor, torch.Tensor]:
    """Pad token lists to one length by hand (no tokenizer needed): returns (input_ids, attention_mask)."""
    width = max(len(row) for row in rows)
    ids = torch.full((len(rows), width), pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        span = slice(width - len(row), width) if side == "left" else slice(0, len(row))
        ids[i, span] = torch.tensor(row)
        mask[i, span] = 1
    return ids, mask


@pytest.fixture(autouse=True)
def _package_auto_classes():
    """A test that loads a folder with trust_remote_code=True leaves the folder's copy of the classes in the Auto
    mappings (Transformers' behaviour for remote code); put the package's own classes back after every test."""
    yield
    import modeling_gpt1

    modeling_gpt1.register_auto_classes()

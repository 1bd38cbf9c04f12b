"""Adding GPT's fine-tuning tokens to a pre-trained model and a tokenizer that lack them."""

import torch
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from tokenizers.pre_tokenizers import Whitespace
from transformers import PreTrainedTokenizerFast

from modeling_gpt1 import GPT1Config, GPT1LMHeadModel
from modeling_gpt1.training import add_special_tokens


def plain_tokenizer(n_words: int = 40) -> PreTrainedTokenizerFast:
    vocab = {"<unk>": 0, **{f"w{i}": i + 1 for i in range(n_words)}}
    backend = Tokenizer(WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>")


def test_new_rows_are_drawn_like_the_others_and_the_tie_holds():
    tokenizer = plain_tokenizer()
    torch.manual_seed(0)
    config = GPT1Config(
        vocab_size=len(tokenizer),
        n_positions=16,
        n_embd=512,
        n_layer=1,
        n_head=4,
        start_token_id=None,
        delimiter_token_id=None,
        extract_token_id=None,
        pad_token_id=None,
    )
    model = GPT1LMHeadModel(config)
    with torch.no_grad():
        model.transformer.wte.weight.add_(5.0)  # trained rows far from the init: new rows must not copy their mean
    old_rows = model.transformer.wte.weight.detach().clone()

    assert add_special_tokens(model, tokenizer) == 4
    ids = [tokenizer.start_token_id, tokenizer.delimiter_token_id, tokenizer.extract_token_id, tokenizer.pad_token_id]
    assert ids == list(range(len(old_rows), len(old_rows) + 4))
    weight = model.transformer.wte.weight
    assert weight.shape[0] == model.config.vocab_size == len(tokenizer)
    torch.testing.assert_close(weight[: len(old_rows)], old_rows)
    new_rows = weight[len(old_rows) :].detach()
    assert abs(new_rows.mean().item()) < 0.01
    assert abs(new_rows.std().item() - config.initializer_range) < 0.003
    assert model.lm_head.weight is model.transformer.wte.weight
    assert [
        model.config.start_token_id,
        model.config.delimiter_token_id,
        model.config.extract_token_id,
        model.config.pad_token_id,
    ] == ids


def test_a_tokenizer_that_has_them_changes_nothing():
    tokenizer = plain_tokenizer()
    config = GPT1Config(vocab_size=len(tokenizer) + 4, n_positions=16, n_embd=32, n_layer=1, n_head=4)
    model = GPT1LMHeadModel(config)
    add_special_tokens(model, tokenizer)
    before = model.transformer.wte.weight.detach().clone()
    assert add_special_tokens(model, tokenizer) == 0
    torch.testing.assert_close(model.transformer.wte.weight, before)

"""The opt-in `block_causal` attention (modeling_gpt1.cpu_training) computes what Transformers' sdpa computes."""

import pytest
import torch
import torch.nn.functional as F
from transformers.integrations import sdpa_attention

from modeling_gpt1 import BLOCK_CAUSAL, GPT1Config, GPT1LMHeadModel, cpu_training
from modeling_gpt1.cpu_training import BLOCK_ROWS, block_causal_attention_forward, dropout_mask


NEVER = 1e-12  # a dropout probability that keeps every weight (the blocked path runs; nothing is dropped)
LENGTH = 2 * BLOCK_ROWS + 22  # three blocks, the last one partial


class Causal(torch.nn.Module):
    is_causal = True


def qkv(batch=2, heads=3, q_length=LENGTH, kv_length=None, head_dim=8, seed=0):
    generator = torch.Generator().manual_seed(seed)
    shapes = [(batch, heads, q_length, head_dim)] + [(batch, heads, kv_length or q_length, head_dim)] * 2
    return [torch.randn(shape, generator=generator, requires_grad=True) for shape in shapes]


def padded_mask(batch, q_length, kv_length, seed=1):
    """A boolean `[batch, 1, q, kv]` mask: causal, left padding in one row, right padding in another, and a query
    that sees no key at all."""
    mask = torch.ones(q_length, kv_length, dtype=torch.bool).tril(kv_length - q_length)
    mask = mask.expand(batch, 1, q_length, kv_length).clone()
    mask[0, ..., : kv_length // 3] = False  # left padding: the first queries see nothing
    mask[1, ..., kv_length - 5 :] = False  # right padding
    return mask


def outputs_and_grads(function, tensors, **kwargs):
    output = function(Causal(), *tensors, scaling=0.3, **kwargs)[0]
    weights = torch.randn(output.shape, generator=torch.Generator().manual_seed(2))
    grads = torch.autograd.grad((output * weights).sum(), tensors)
    return output, grads


def assert_same(expected, actual, atol=1e-5):
    (out_e, grads_e), (out_a, grads_a) = expected, actual
    torch.testing.assert_close(out_a, out_e, atol=atol, rtol=0)
    for grad_a, grad_e in zip(grads_a, grads_e):
        torch.testing.assert_close(grad_a, grad_e, atol=atol, rtol=0)


@pytest.mark.parametrize(
    "q_length, kv_length, masked",
    [(LENGTH, LENGTH, False), (LENGTH, LENGTH, True), (BLOCK_ROWS, BLOCK_ROWS, False), (LENGTH - 30, LENGTH, True)],
    ids=["causal", "padded", "one block", "longer keys"],
)
def test_blocked_attention_equals_sdpa_in_value_and_gradient(q_length, kv_length, masked):
    tensors = qkv(q_length=q_length, kv_length=kv_length)
    mask = padded_mask(2, q_length, kv_length) if masked else None
    expected = outputs_and_grads(sdpa_attention.sdpa_attention_forward, tensors, attention_mask=mask, dropout=0.0)
    actual = outputs_and_grads(block_causal_attention_forward, tensors, attention_mask=mask, dropout=NEVER)
    assert_same(expected, actual)
    if masked:  # sdpa's rows that see no key are 0, and so are ours
        assert actual[0][0, : kv_length // 3 - (kv_length - q_length)].abs().max() == 0


def test_dropout_drops_the_drawn_weights_and_scales_the_rest(monkeypatch):
    """With the dropout masks drawn from one full mask, the output is softmax(q k^T s + mask) * keep / (1 - p) v."""
    p = 0.25
    q, k, v = qkv()
    full_keep = torch.rand(2, 3, LENGTH, LENGTH, generator=torch.Generator().manual_seed(3)) > p
    blocks = iter(range(0, LENGTH, BLOCK_ROWS))

    def drawn(shape, p_drawn, device=None):
        assert p_drawn == p
        start = next(blocks)
        return ~full_keep[:, :, start : start + shape[-2], : shape[-1]]

    monkeypatch.setattr(cpu_training, "dropout_mask", drawn)
    output = block_causal_attention_forward(Causal(), q, k, v, None, dropout=p, scaling=0.3)[0]
    causal = torch.ones(LENGTH, LENGTH, dtype=torch.bool).tril()
    weights = F.softmax((q @ k.transpose(-1, -2) * 0.3).masked_fill(~causal, float("-inf")), dim=-1)
    expected = ((weights * full_keep / (1 - p)) @ v).transpose(1, 2)
    torch.testing.assert_close(output, expected, atol=1e-5, rtol=0)
    assert next(blocks, None) is None  # one draw per block


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_dropout_mask_drops_each_weight_with_probability_p(p):
    torch.manual_seed(0)
    dropped = dropout_mask((2_000_000,), p)
    assert dropped.dtype == torch.bool
    assert dropped.float().mean().item() == pytest.approx(p, abs=5 * (p * (1 - p) / 2_000_000) ** 0.5)
    assert not dropout_mask((10_000,), NEVER).any()  # the threshold 2^31 itself is compared without overflow
    torch.manual_seed(0)
    assert torch.equal(dropout_mask((2_000_000,), p), dropped)  # torch's generator: seeded runs repeat


@pytest.mark.parametrize(
    "case",
    ["no dropout", "float mask", "not causal", "compiling"],
)
def test_everything_else_runs_transformers_sdpa(monkeypatch, case):
    calls = []
    sdpa = sdpa_attention.sdpa_attention_forward
    monkeypatch.setattr(cpu_training, "sdpa_attention_forward", lambda *a, **kw: calls.append(kw) or sdpa(*a, **kw))
    q, k, v = qkv()
    mask, dropout, kwargs = None, 0.1, {}
    if case == "no dropout":
        dropout = 0.0
    elif case == "float mask":
        mask = torch.zeros(2, 1, LENGTH, LENGTH)
    elif case == "not causal":
        kwargs = {"is_causal": False}
    else:
        monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    output = block_causal_attention_forward(Causal(), q, k, v, mask, dropout=dropout, scaling=0.3, **kwargs)[0]
    assert len(calls) == 1 and calls[0]["dropout"] == dropout
    assert output.shape == (2, LENGTH, 3, 8)


def tiny_config(**overrides):
    return GPT1Config(vocab_size=64, n_positions=2 * LENGTH, n_embd=24, n_layer=2, n_head=3, **overrides)


def test_models_trained_with_block_causal_attention_equal_sdpa_with_padding_and_packed_sequences():
    """In training mode (attention dropout on, every weight kept), the LM's logits, loss and gradients equal the sdpa
    model's without dropout: plain batches, padded ones, and sequences packed by `position_ids`."""
    config = dict(attn_pdrop=NEVER, resid_pdrop=0.0, embd_pdrop=0.0)
    torch.manual_seed(0)
    reference = GPT1LMHeadModel(tiny_config(**config)).eval()
    blocked = GPT1LMHeadModel(tiny_config(**config)).train()
    blocked.load_state_dict(reference.state_dict())
    blocked.set_attn_implementation(BLOCK_CAUSAL)
    assert reference.config._attn_implementation == "sdpa"
    ids = torch.randint(0, 60, (3, LENGTH), generator=torch.Generator().manual_seed(4))
    padding = torch.ones_like(ids)
    padding[0, :30], padding[1, LENGTH - 40 :] = 0, 0
    packed = torch.cat([torch.arange(70), torch.arange(LENGTH - 70)]).expand(3, -1)
    for inputs in ({}, {"attention_mask": padding}, {"position_ids": packed}):
        labels = ids.masked_fill(inputs.get("attention_mask", padding) == 0, -100) if inputs else ids
        expected = reference(input_ids=ids, labels=labels, **inputs)
        actual = blocked(input_ids=ids, labels=labels, **inputs)
        expected.loss.backward()
        actual.loss.backward()
        torch.testing.assert_close(actual.logits, expected.logits, atol=1e-5, rtol=0)
        torch.testing.assert_close(actual.loss, expected.loss, atol=1e-6, rtol=0)
        for (name, mine), theirs in zip(blocked.named_parameters(), reference.parameters()):
            torch.testing.assert_close(mine.grad, theirs.grad, atol=1e-5, rtol=0, msg=name)
        blocked.zero_grad()
        reference.zero_grad()


def test_from_pretrained_with_block_causal_attention_drops_out_and_evaluates_as_sdpa(tmp_path):
    torch.manual_seed(0)
    GPT1LMHeadModel(tiny_config()).save_pretrained(tmp_path)
    model = GPT1LMHeadModel.from_pretrained(tmp_path, attn_implementation=BLOCK_CAUSAL)
    plain = GPT1LMHeadModel.from_pretrained(tmp_path)
    assert model.config._attn_implementation == BLOCK_CAUSAL
    ids = torch.randint(0, 60, (2, LENGTH))
    assert torch.equal(model.eval()(ids).logits, plain.eval()(ids).logits)  # no dropout: sdpa itself
    model.train()
    runs = []
    for _ in range(2):
        torch.manual_seed(1)
        runs.append(model(ids).logits)
    torch.testing.assert_close(runs[0], runs[1], atol=0, rtol=0)  # seeded dropout repeats
    assert (runs[0] - plain(ids).logits).abs().max() > 1e-3  # and does drop


def test_bfloat16_autocast_training_matches_sdpa():
    torch.manual_seed(0)
    config = dict(attn_pdrop=NEVER, resid_pdrop=0.0, embd_pdrop=0.0)
    reference = GPT1LMHeadModel(tiny_config(**config)).eval()
    blocked = GPT1LMHeadModel(tiny_config(**config)).train()
    blocked.load_state_dict(reference.state_dict())
    blocked.set_attn_implementation(BLOCK_CAUSAL)
    ids = torch.randint(0, 60, (2, LENGTH))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        expected, actual = reference(ids, labels=ids), blocked(ids, labels=ids)
    assert actual.logits.dtype == torch.bfloat16
    torch.testing.assert_close(actual.loss, expected.loss, atol=2e-2, rtol=0)

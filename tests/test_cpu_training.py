"""The opt-in `block_causal` attention (modeling_gpt1.cpu_training) computes what Transformers' sdpa computes."""

import pytest
import torch
import torch.nn.functional as F
from transformers.integrations import sdpa_attention

from modeling_gpt1 import BLOCK_CAUSAL, GPT1Config, GPT1LMHeadModel, cpu_training
from modeling_gpt1.cpu_training import block_causal_attention_forward, dropout_mask


NEVER = 1e-12  # a dropout probability that keeps every weight (the blocked path runs; nothing is dropped)
ROWS = 16  # queries a block in these tests (small inputs, several blocks)
LENGTH = 2 * ROWS + 22  # three blocks, the last one partial


@pytest.fixture(autouse=True)
def draws(monkeypatch):
    """Blocks of `ROWS` queries, and the shape of every dropout mask the blocked path draws (one a block)."""
    monkeypatch.setattr(cpu_training, "BLOCK_ROWS", ROWS)
    shapes, draw = [], cpu_training.dropout_mask
    monkeypatch.setattr(
        cpu_training, "dropout_mask", lambda shape, *a, **kw: shapes.append(shape) or draw(shape, *a, **kw)
    )
    return shapes


def blocks(q_length):
    return -(-q_length // ROWS)


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
    "q_length, kv_length, mask",
    [
        (LENGTH, LENGTH, None),
        (LENGTH, LENGTH, "padded"),
        (ROWS, ROWS, None),
        (LENGTH - 30, LENGTH, "padded"),
        (LENGTH - 30, LENGTH, None),  # sdpa's is_causal: aligned at the first key (an empty static cache's prefill)
        (LENGTH, LENGTH, "one row for all queries"),  # [batch, 1, 1, kv_len]
        (LENGTH, LENGTH, "per head"),  # [batch, heads, q_len, kv_len]
        (LENGTH, LENGTH, "batch 1"),  # [1, 1, q_len, kv_len] for every row of the batch
        (LENGTH, LENGTH, "every key visible"),  # bidirectional: no block has a hidden key
        (LENGTH, LENGTH, "one column for all keys"),  # [batch, 1, q_len, 1]: a query sees every key or none
    ],
    ids=lambda value: str(value),
)
def test_blocked_attention_equals_sdpa_in_value_and_gradient(draws, q_length, kv_length, mask):
    tensors = qkv(q_length=q_length, kv_length=kv_length)
    if mask == "padded":
        mask = padded_mask(2, q_length, kv_length)
    elif mask == "one row for all queries":
        mask = torch.rand(2, 1, 1, kv_length, generator=torch.Generator().manual_seed(5)) > 0.3
    elif mask == "per head":
        mask = padded_mask(2, q_length, kv_length).repeat(1, 3, 1, 1)
        mask[:, 1, :, 7] = False
    elif mask == "batch 1":
        mask = padded_mask(2, q_length, kv_length)[1:]
    elif mask == "every key visible":
        mask = torch.ones(2, 1, q_length, kv_length, dtype=torch.bool)
    elif mask == "one column for all keys":
        mask = torch.rand(2, 1, q_length, 1, generator=torch.Generator().manual_seed(5)) > 0.3
    expected = outputs_and_grads(sdpa_attention.sdpa_attention_forward, tensors, attention_mask=mask, dropout=0.0)
    actual = outputs_and_grads(block_causal_attention_forward, tensors, attention_mask=mask, dropout=NEVER)
    assert len(draws) == blocks(q_length)  # the blocked path ran
    assert_same(expected, actual)
    if mask is not None:  # queries that see no key give 0, as sdpa's do
        sees_none = ~mask.expand(2, 3, q_length, kv_length).any(dim=-1).transpose(1, 2)  # [batch, q_len, heads]
        assert (actual[0][sees_none] == 0).all()
        assert sees_none.any() or q_length < kv_length or mask.shape[0] == 1 or mask.shape[2] == 1 or mask.all()


@pytest.mark.parametrize("masked", [False, True], ids=["causal", "padded"])
def test_dropout_drops_the_drawn_weights_and_scales_the_rest_in_value_and_gradient(monkeypatch, masked):
    """With the dropout masks drawn from one full mask, the output is softmax(q k^T s + mask) * keep / (1 - p) v,
    and 0 for a query that sees no key; its gradients are autograd's of that formula."""
    p = 0.25
    tensors = qkv()
    full_keep = torch.rand(2, 3, LENGTH, LENGTH, generator=torch.Generator().manual_seed(3)) > p
    starts = iter(range(0, LENGTH, ROWS))

    def drawn(shape, p_drawn, device=None):
        assert p_drawn == p
        start = next(starts)
        return ~full_keep[:, :, start : start + shape[-2], : shape[-1]]

    monkeypatch.setattr(cpu_training, "dropout_mask", drawn)
    mask = padded_mask(2, LENGTH, LENGTH) if masked else None
    actual = outputs_and_grads(block_causal_attention_forward, tensors, attention_mask=mask, dropout=p)
    assert next(starts, None) is None  # one draw per block
    visible = mask if masked else torch.ones(LENGTH, LENGTH, dtype=torch.bool).tril()

    def formula(module, q, k, v, attention_mask, dropout, scaling):
        weights = F.softmax((q @ k.transpose(-1, -2) * scaling).masked_fill(~visible, -1e9), dim=-1)
        weights = weights * visible.any(dim=-1, keepdim=True)  # a query that sees no key: 0
        return ((weights * full_keep / (1 - dropout)) @ v).transpose(1, 2), None

    assert_same(outputs_and_grads(formula, tensors, attention_mask=mask, dropout=p), actual)


def test_blocked_attention_backward_passes_gradcheck_with_padding_and_dropout(monkeypatch):
    """The hand-written backward against finite differences in float64 (dropout masks fixed per block shape)."""
    monkeypatch.setattr(
        cpu_training,
        "dropout_mask",
        lambda shape, p, device=None: torch.rand(shape, generator=torch.Generator().manual_seed(7)) < p,
    )
    q_length = ROWS + 5
    tensors = [t.detach().double().requires_grad_() for t in qkv(batch=2, heads=2, q_length=q_length, head_dim=4)]
    mask = padded_mask(2, q_length, q_length)  # queries that see no key, and right padding

    def attention(q, k, v):
        return block_causal_attention_forward(Causal(), q, k, v, mask, dropout=0.3, scaling=0.7)[0]

    assert torch.autograd.gradcheck(attention, tensors, eps=1e-6, atol=1e-6)


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
    [
        "no dropout",
        "float mask",
        "not causal",
        "compiling",
        "fewer keys than queries",
        "position_bias",
        "softcap",
        "grouped key/value heads",
        "batch broadcast between queries and keys",
    ],
)
def test_everything_else_runs_transformers_sdpa(monkeypatch, draws, case):
    calls = []
    sdpa = sdpa_attention.sdpa_attention_forward
    monkeypatch.setattr(cpu_training, "sdpa_attention_forward", lambda *a, **kw: calls.append(kw) or sdpa(*a, **kw))
    q, k, v = qkv(kv_length=LENGTH - 10 if case == "fewer keys than queries" else None)
    mask, dropout, kwargs, module = None, 0.1, {}, Causal()
    if case == "no dropout":
        dropout = 0.0
    elif case == "float mask":
        mask = torch.zeros(2, 1, LENGTH, LENGTH)
    elif case == "not causal":
        kwargs = {"is_causal": False}
    elif case == "compiling":
        monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    elif case == "position_bias":
        kwargs = {"position_bias": torch.randn(1, 3, LENGTH, LENGTH)}
    elif case == "softcap":
        with pytest.raises(ValueError, match="softcap"):  # sdpa's own refusal
            block_causal_attention_forward(module, q, k, v, mask, dropout=dropout, scaling=0.3, softcap=30.0)
        assert len(calls) == 1 and not draws
        return
    elif case == "grouped key/value heads":  # 3 query heads share each key/value head
        module.num_key_value_groups = 3
        k, v = k[:, :1], v[:, :1]
    elif case == "batch broadcast between queries and keys":
        q = q[:1]
    output = block_causal_attention_forward(module, q, k, v, mask, dropout=dropout, scaling=0.3, **kwargs)[0]
    assert len(calls) == 1 and calls[0]["dropout"] == dropout and not draws
    assert output.shape == (2, LENGTH, 3, 8)
    output.sum().backward()  # and trains: gradients through sdpa


@pytest.mark.parametrize("through", ["attention", "model"])
def test_second_derivatives_are_refused_not_left_out(through):
    """A backward with create_graph=True (a gradient penalty) raises: the written-out backward's saved weights are
    constants to autograd, so its second-order terms would be missing. sdpa computes them."""
    if through == "attention":
        tensors = qkv()

        def loss(function):
            return function(Causal(), *tensors, None, dropout=NEVER, scaling=0.3)[0].pow(2).sum(), tensors

    else:
        reference, blocked = sdpa_and_blocked_models()
        ids = torch.randint(0, 60, (2, LENGTH), generator=torch.Generator().manual_seed(4))
        reference.train()

        def loss(function):
            model = blocked if function is block_causal_attention_forward else reference
            return model(ids, labels=ids).loss, list(model.parameters())

    for function in (sdpa_attention.sdpa_attention_forward, block_causal_attention_forward):
        value, inputs = loss(function)
        if function is block_causal_attention_forward:
            with pytest.raises(RuntimeError, match="no second derivatives.*create_graph=True"):
                torch.autograd.grad(value, inputs, create_graph=True)
        else:
            grads = torch.autograd.grad(value, inputs, create_graph=True)
            torch.autograd.grad(sum(grad.pow(2).sum() for grad in grads), inputs[0])  # sdpa's second derivatives


@pytest.mark.parametrize("shape", [(2, 1, LENGTH, LENGTH + 5), (2, 1, LENGTH - 1, LENGTH)], ids=["wider", "shorter"])
def test_a_mask_that_does_not_fit_is_refused_as_sdpa_refuses_it(shape):
    q, k, v = qkv()
    mask = torch.ones(shape, dtype=torch.bool)
    with pytest.raises(RuntimeError):
        sdpa_attention.sdpa_attention_forward(Causal(), q, k, v, mask, dropout=0.1, scaling=0.3)
    with pytest.raises(
        ValueError, match=rf"attention_mask of shape \({shape[0]}, 1, {shape[2]}, {shape[3]}\) does not fit"
    ):
        block_causal_attention_forward(Causal(), q, k, v, mask, dropout=0.1, scaling=0.3)


@pytest.mark.parametrize("dtype", ["bfloat16 autocast", "float16"])
def test_a_query_that_sees_no_key_gets_finite_gradients_in_lower_precision(dtype):
    """Masked scores are set to their own dtype's minimum, never -inf: autocast makes float32 queries' scores
    bfloat16, and float16 scores far below zero would overflow if the minimum were added."""
    q, k, v = qkv()
    mask = padded_mask(2, LENGTH, LENGTH)
    if dtype == "float16":
        with torch.no_grad():
            q.fill_(8.0), k.fill_(-8.0)  # scores of -1.5e2 (q k^T s): -65504 added would be -inf in float16
        tensors = [t.detach().half().requires_grad_() for t in (q, k, v)]
        _, grads = outputs_and_grads(block_causal_attention_forward, tensors, attention_mask=mask, dropout=NEVER)
    else:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            expected = outputs_and_grads(sdpa_attention.sdpa_attention_forward, [q, k, v], attention_mask=mask)
            actual = outputs_and_grads(block_causal_attention_forward, [q, k, v], attention_mask=mask, dropout=NEVER)
        assert_same(expected, actual, atol=5e-2)
        grads = actual[1]
    assert all(torch.isfinite(grad).all() for grad in grads)


def tiny_config(**overrides):
    return GPT1Config(vocab_size=64, n_positions=2 * LENGTH, n_embd=24, n_layer=2, n_head=3, **overrides)


ONLY_ATTENTION_DROPOUT = dict(resid_pdrop=0.0, embd_pdrop=0.0)


def sdpa_and_blocked_models():
    """The same tiny LM twice, attention dropout on but keeping every weight: sdpa in evaluation mode (no dropout),
    and block_causal in training mode (its blocked path)."""
    torch.manual_seed(0)
    config = dict(attn_pdrop=NEVER, **ONLY_ATTENTION_DROPOUT)
    reference = GPT1LMHeadModel(tiny_config(**config)).eval()
    blocked = GPT1LMHeadModel(tiny_config(**config)).train()
    blocked.load_state_dict(reference.state_dict())
    blocked.set_attn_implementation(BLOCK_CAUSAL)
    return reference, blocked


def test_models_trained_with_block_causal_attention_equal_sdpa_with_padding_and_packed_sequences(draws):
    """In training mode (attention dropout on, every weight kept), the LM's logits, loss and gradients equal the sdpa
    model's without dropout: plain batches, padded ones, and sequences packed by `position_ids`."""
    reference, blocked = sdpa_and_blocked_models()
    assert reference.config._attn_implementation == "sdpa"
    ids = torch.randint(0, 60, (3, LENGTH), generator=torch.Generator().manual_seed(4))
    padding = torch.ones_like(ids)
    padding[0, : LENGTH // 2], padding[1, LENGTH - 20 :] = 0, 0
    packed = torch.cat([torch.arange(ROWS + 3), torch.arange(LENGTH - ROWS - 3)]).expand(3, -1)
    for inputs in ({}, {"attention_mask": padding}, {"position_ids": packed}):
        labels = ids.masked_fill(padding == 0, -100) if "attention_mask" in inputs else ids
        draws.clear()
        expected = reference(input_ids=ids, labels=labels, **inputs)
        actual = blocked(input_ids=ids, labels=labels, **inputs)
        assert len(draws) == 2 * blocks(LENGTH)  # both layers took the blocked path
        expected.loss.backward()
        actual.loss.backward()
        torch.testing.assert_close(actual.logits, expected.logits, atol=1e-5, rtol=0)
        torch.testing.assert_close(actual.loss, expected.loss, atol=1e-6, rtol=0)
        for (name, mine), theirs in zip(blocked.named_parameters(), reference.parameters()):
            torch.testing.assert_close(mine.grad, theirs.grad, atol=1e-5, rtol=0, msg=name)
        blocked.zero_grad()
        reference.zero_grad()


def test_from_pretrained_with_block_causal_attention_drops_out_and_evaluates_as_sdpa(tmp_path, draws):
    torch.manual_seed(0)
    GPT1LMHeadModel(tiny_config(**ONLY_ATTENTION_DROPOUT)).save_pretrained(tmp_path)
    model = GPT1LMHeadModel.from_pretrained(tmp_path, attn_implementation=BLOCK_CAUSAL)
    plain = GPT1LMHeadModel.from_pretrained(tmp_path)
    assert model.config._attn_implementation == BLOCK_CAUSAL
    ids = torch.randint(0, 60, (2, LENGTH))
    assert torch.equal(model.eval()(ids).logits, plain.eval()(ids).logits)  # no dropout: sdpa itself
    assert not draws
    model.train()
    runs = []
    for _ in range(2):
        torch.manual_seed(1)
        runs.append(model(ids).logits)
    torch.testing.assert_close(runs[0], runs[1], atol=0, rtol=0)  # seeded dropout repeats
    assert len(draws) == 2 * 2 * blocks(LENGTH)  # two runs, two layers
    assert (runs[0] - plain(ids).logits).abs().max() > 1e-3  # and does drop (the only dropout left on)


def test_bfloat16_autocast_training_with_padding_matches_sdpa(draws):
    reference, blocked = sdpa_and_blocked_models()
    ids = torch.randint(0, 60, (2, LENGTH))
    padding = torch.ones_like(ids)
    padding[0, : LENGTH // 2] = 0  # left padding: queries that see no key
    labels = ids.masked_fill(padding == 0, -100)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        expected = reference(ids, attention_mask=padding, labels=labels)
        actual = blocked(ids, attention_mask=padding, labels=labels)
    assert actual.logits.dtype == torch.bfloat16 and draws
    torch.testing.assert_close(actual.loss, expected.loss, atol=2e-2, rtol=0)
    expected.loss.backward()
    actual.loss.backward()
    for (name, mine), theirs in zip(blocked.named_parameters(), reference.parameters()):
        assert torch.isfinite(mine.grad).all(), name
        torch.testing.assert_close(mine.grad, theirs.grad, atol=5e-2, rtol=5e-2, msg=name)


def test_gradient_checkpointing_recomputes_the_same_dropout(draws):
    """Recomputing a block's attention in the backward (gradient checkpointing) redraws the same dropout masks: the
    gradients equal those of the run that kept its activations."""
    torch.manual_seed(0)
    model = GPT1LMHeadModel(tiny_config(attn_pdrop=0.3, **ONLY_ATTENTION_DROPOUT)).train()
    model.set_attn_implementation(BLOCK_CAUSAL)
    ids = torch.randint(0, 60, (2, LENGTH), generator=torch.Generator().manual_seed(4))
    grads = []
    for checkpointing in (False, True):
        if checkpointing:
            model.activation_checkpointing_enable()
        draws.clear()
        model.zero_grad()
        torch.manual_seed(1)
        model(ids, labels=ids).loss.backward()
        assert len(draws) == (2 if checkpointing else 1) * 2 * blocks(LENGTH)  # recomputed: drawn twice
        grads.append([parameter.grad.clone() for parameter in model.parameters()])
    for (name, _), kept, recomputed in zip(model.named_parameters(), *grads):
        torch.testing.assert_close(recomputed, kept, atol=1e-6, rtol=0, msg=name)

"""GPT1Config, GPT1Model and GPT1LMHeadModel: shapes, padding, attention backends, loss, tying, saving, training."""

import json

import pytest
import torch
from conftest import make_config, make_lm, pad_batch
from huggingface_hub.errors import StrictDataclassClassValidationError, StrictDataclassFieldValidationError
from torch.nn import functional as F
from transformers import AttentionInterface, AutoConfig, AutoModel, AutoModelForCausalLM
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

from modeling_gpt1 import GPT1Config, GPT1LMHeadModel, GPT1Model


# What Transformers' `@strict` configs raise: a field's value when it is set, the whole config on validate().
CONFIG_ERRORS = (StrictDataclassFieldValidationError, StrictDataclassClassValidationError)


# ---------------------------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------------------------


def test_config_defaults_are_the_paper_117m_model():
    config = GPT1Config()
    assert (config.n_embd, config.n_layer, config.n_head) == (768, 12, 12)
    assert (config.n_positions, config.n_inner, config.feed_forward_width) == (512, None, 3072)
    assert config.afn == "gelu_new"
    assert config.layer_norm_epsilon == 1e-5
    assert config.vocab_size == 40482
    special = (config.start_token_id, config.delimiter_token_id, config.extract_token_id, config.pad_token_id)
    assert special == (40478, 40479, 40480, 40481)


def test_config_standard_attribute_names():
    config = make_config()
    assert config.hidden_size == config.n_embd == 32
    assert config.num_attention_heads == config.n_head == 4
    assert config.num_hidden_layers == config.n_layer == 2
    assert config.max_position_embeddings == config.n_positions == 64


def test_intermediate_size_is_the_feed_forward_width_the_model_builds():
    """It read `n_inner`, which is None by default (meaning 4 * n_embd): tools reading Transformers' name got None."""
    config = make_config()
    assert config.n_inner is None and config.intermediate_size == 4 * config.n_embd == 128
    assert GPT1Model(config).h[0].mlp.c_fc.weight.shape == (config.n_embd, config.intermediate_size)
    sized = make_config(intermediate_size=48)  # and as a constructor argument or set later, it sets n_inner
    assert sized.n_inner == sized.intermediate_size == 48
    sized.intermediate_size = 64
    assert sized.n_inner == 64 and GPT1Config.from_dict(sized.to_dict()).intermediate_size == 64


@pytest.mark.parametrize(
    "overrides, field",
    [
        (dict(n_embd=30, n_head=4), "n_embd"),
        (dict(vocab_size=0), "vocab_size"),
        (dict(n_positions=-1), "n_positions"),
        (dict(n_embd=0), "n_embd"),
        (dict(n_layer=0), "n_layer"),
        (dict(n_head=0), "n_head"),
        (dict(n_inner=0), "n_inner"),
        (dict(resid_pdrop=1.0), "resid_pdrop"),
        (dict(embd_pdrop=-0.1), "embd_pdrop"),
        (dict(attn_pdrop=1.5), "attn_pdrop"),
        (dict(classifier_dropout=1.0), "classifier_dropout"),
        (dict(layer_norm_epsilon=float("inf")), "layer_norm_epsilon"),  # every state its bias alone
        (dict(initializer_range=float("inf")), "initializer_range"),  # NaN weights
        (dict(layer_norm_epsilon=float("nan")), "layer_norm_epsilon"),
        (dict(afn="not_an_activation"), "afn"),
        (dict(pad_token_id=99), "pad_token_id"),
        (dict(start_token_id=-1), "start_token_id"),
        (dict(delimiter_token_id=500), "delimiter_token_id"),
        (dict(extract_token_id=99), "extract_token_id"),
    ],
)
def test_config_rejects_bad_values_naming_the_field(overrides, field):
    with pytest.raises(CONFIG_ERRORS, match=field):
        make_config(**overrides)


@pytest.mark.parametrize("how", ["set after construction", "from_pretrained override"])
def test_feed_forward_follows_a_changed_n_embd_as_gpt2s_does(how, tmp_path):
    """n_inner=None means 4 * n_embd when the model is built: a width changed later (or when loading a saved config)
    keeps the ratio, as GPT-2's config does, rather than a feed-forward fixed at the old width."""
    from transformers import GPT2Config, GPT2Model

    def widen(config_class, config):
        if how == "set after construction":
            config.n_embd = 64
            return config
        config.save_pretrained(tmp_path / config_class.__name__)
        return config_class.from_pretrained(tmp_path / config_class.__name__, n_embd=64)

    ours = GPT1Model(widen(GPT1Config, make_config(n_embd=32, n_head=4)))
    gpt2 = GPT2Model(widen(GPT2Config, GPT2Config(vocab_size=100, n_positions=64, n_embd=32, n_layer=2, n_head=4)))
    assert ours.h[0].mlp.c_fc.weight.shape == gpt2.h[0].mlp.c_fc.weight.shape == (64, 256)
    assert ours.config.n_inner is None and ours.config.feed_forward_width == 256


def test_an_explicit_n_inner_is_kept():
    model = GPT1Model(make_config(n_embd=32, n_head=4, n_inner=48))
    assert model.h[0].mlp.c_fc.weight.shape == (32, 48) and model.h[0].mlp.c_proj.weight.shape == (48, 32)


def test_a_config_made_invalid_after_construction_is_refused_when_the_model_is_built():
    """`@strict` checks a field set later on its own (66 is a positive width); the model checks the whole config, so
    a width n_head does not divide raises naming both instead of a reshape error in the first forward."""
    config = make_config(n_embd=64, n_head=4)
    config.n_embd = 66
    for model_class in (GPT1Model, GPT1LMHeadModel):
        with pytest.raises(StrictDataclassClassValidationError, match=r"n_embd \(66\) must be divisible by n_head"):
            model_class(config)
    config = make_config()
    config.pad_token_id = config.vocab_size + 5
    with pytest.raises(StrictDataclassClassValidationError, match="pad_token_id"):
        GPT1LMHeadModel(config)


def test_released_parameter_count():
    """The release has 116,534,784 parameters: 40,478 BPE embeddings, no special tokens, tied output layer."""
    config = GPT1Config(vocab_size=40478)
    with torch.device("meta"):  # shapes only: no memory, no initialisation cost
        backbone = GPT1Model(config)
        lm = GPT1LMHeadModel(config)
    assert sum(p.numel() for p in backbone.parameters()) == 116_534_784
    # The LM head adds no parameters: it is the token embedding.
    assert sum(p.numel() for p in lm.parameters()) == 116_534_784


# ---------------------------------------------------------------------------------------------------------------
# Forward pass
# ---------------------------------------------------------------------------------------------------------------


def test_output_shapes(model, input_ids, config):
    outputs = model(input_ids)
    assert outputs.logits.shape == (2, 7, config.vocab_size)
    assert model.transformer(input_ids).last_hidden_state.shape == (2, 7, config.n_embd)


def test_hidden_states_are_embeddings_then_one_per_block(model, input_ids, config):
    outputs = model.transformer(input_ids, output_hidden_states=True)
    assert len(outputs.hidden_states) == config.n_layer + 1
    positions = torch.arange(input_ids.shape[1])
    embeddings = model.transformer.wte(input_ids) + model.transformer.wpe(positions)
    torch.testing.assert_close(outputs.hidden_states[0], embeddings)
    torch.testing.assert_close(outputs.hidden_states[-1], outputs.last_hidden_state)


def test_attentions_with_eager(eager_model, input_ids, config):
    attentions = eager_model(input_ids, output_attentions=True).attentions
    assert len(attentions) == config.n_layer
    for weights in attentions:
        assert weights.shape == (2, config.n_head, 7, 7)
        torch.testing.assert_close(weights.sum(-1), torch.ones(2, config.n_head, 7))
        future = torch.ones(7, 7, dtype=torch.bool).triu(1)
        assert torch.all(weights[..., future] == 0), "a token attends to a later token"


def test_inputs_embeds_equals_input_ids(model, input_ids):
    from_ids = model(input_ids).logits
    from_embeds = model(inputs_embeds=model.transformer.wte(input_ids)).logits
    torch.testing.assert_close(from_embeds, from_ids)


@pytest.mark.parametrize("side", ["left", "right"])
def test_padding_does_not_change_real_tokens(model, config, side):
    """Each padded row's logits at its real tokens equal the logits of the row alone, unpadded."""
    rows = [[5, 17, 42, 8, 3, 61], [9, 28, 33]]
    ids, mask = pad_batch(rows, config.pad_token_id, side)
    logits = model(ids, attention_mask=mask).logits
    for i, row in enumerate(rows):
        alone = model(torch.tensor([row])).logits[0]
        torch.testing.assert_close(logits[i][mask[i].bool()], alone, atol=1e-5, rtol=1e-5)


def test_sdpa_and_eager_agree_with_padding(model, eager_model, config):
    rows = [[5, 17, 42, 8, 3, 61, 7], [9, 28, 33, 2]]
    ids, mask = pad_batch(rows, config.pad_token_id, "left")
    assert torch.equal(model.lm_head.weight, eager_model.lm_head.weight)
    sdpa = model(ids, attention_mask=mask).logits
    eager = eager_model(ids, attention_mask=mask).logits
    real = mask.bool()  # padded queries see no key at all; only real positions carry meaning
    torch.testing.assert_close(sdpa[real], eager[real], atol=1e-5, rtol=1e-5)


def test_a_registered_attention_backend_is_used_through_attn_implementation(model, config):
    """Attention goes through Transformers' interfaces, as flash, flex and paged attention plug in: a backend
    registered under a new name (here sdpa that records its calls, with sdpa's mask) runs every layer, decoding with
    the cache included, and gives sdpa's results."""
    calls = []

    def recording_sdpa(module, query, key, value, attention_mask, **kwargs):
        calls.append((module.layer_idx, query.shape, key.shape))
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)

    AttentionInterface.register("recording_sdpa", recording_sdpa)
    AttentionMaskInterface.register("recording_sdpa", sdpa_mask)
    recording = make_lm(attn_implementation="recording_sdpa")
    assert recording.config._attn_implementation == "recording_sdpa"
    ids, mask = pad_batch([[5, 17, 42, 8, 3, 61, 7], [9, 28, 33, 2]], config.pad_token_id, "left")
    with torch.no_grad():
        torch.testing.assert_close(
            recording(ids, attention_mask=mask).logits, model(ids, attention_mask=mask).logits, atol=1e-6, rtol=1e-6
        )
    assert [layer for layer, _, _ in calls] == list(range(config.n_layer))
    assert calls[0][1] == (2, config.n_head, 7, config.n_embd // config.n_head)

    calls.clear()
    settings = dict(attention_mask=mask, max_new_tokens=3, do_sample=False, pad_token_id=config.pad_token_id)
    assert torch.equal(recording.generate(ids, **settings), model.generate(ids, **settings))
    # The prompt's 7 queries, then one query a step against the growing cache: the third token needs no step.
    assert [(q[2], k[2]) for _, q, k in calls[:: config.n_layer]] == [(7, 7), (1, 8), (1, 9)]


# ---------------------------------------------------------------------------------------------------------------
# Loss, tied weights, saving
# ---------------------------------------------------------------------------------------------------------------


def test_lm_loss_is_shifted_cross_entropy_ignoring_minus_100(model, input_ids, config):
    labels = input_ids.clone()
    labels[0, 2] = -100
    labels[1, 4:] = -100
    outputs = model(input_ids, labels=labels)
    expected = F.cross_entropy(
        outputs.logits[:, :-1].reshape(-1, config.vocab_size), labels[:, 1:].reshape(-1), ignore_index=-100
    )
    torch.testing.assert_close(outputs.loss, expected)


def test_lm_head_is_tied_to_token_embedding(model):
    assert model.lm_head.weight is model.transformer.wte.weight


def test_tying_survives_resize_token_embeddings(model):
    model.resize_token_embeddings(120)
    assert model.config.vocab_size == 120
    assert model.transformer.wte.weight.shape == (120, 32)
    assert model.lm_head.weight is model.transformer.wte.weight
    assert model(torch.tensor([[119, 3]])).logits.shape == (1, 2, 120)


def test_save_and_load_round_trip(model, input_ids, tmp_path):
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    assert json.loads((tmp_path / "config.json").read_text())["model_type"] == "gpt1"

    loaded = GPT1LMHeadModel.from_pretrained(tmp_path).eval()
    assert loaded.lm_head.weight is loaded.transformer.wte.weight
    assert torch.equal(loaded(input_ids).logits, model(input_ids).logits)


@pytest.mark.parametrize("dtype, atol", [(torch.bfloat16, 0.1), (torch.float16, 0.02)])
@pytest.mark.parametrize("attn_implementation", ["eager", "sdpa"])
def test_half_precision_load_runs_and_stays_close_to_float32(
    model, input_ids, tmp_path, dtype, atol, attn_implementation
):
    model.save_pretrained(tmp_path)
    half = GPT1LMHeadModel.from_pretrained(tmp_path, dtype=dtype, attn_implementation=attn_implementation).eval()
    assert {parameter.dtype for parameter in half.parameters()} == {dtype}
    with torch.no_grad():
        logits = half(input_ids).logits
        generated = half.generate(input_ids[:1], max_new_tokens=4, do_sample=False, pad_token_id=0)
        expected = model(input_ids).logits
    assert logits.dtype == dtype
    torch.testing.assert_close(logits.float(), expected, atol=atol, rtol=0)
    assert generated.shape == (1, input_ids.shape[1] + 4)
    half.train()
    half(input_ids, labels=input_ids).loss.backward()
    assert half.transformer.wte.weight.grad.dtype == dtype


def test_saved_folder_loads_through_auto_classes(model, input_ids, tmp_path):
    model.save_pretrained(tmp_path)

    config = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(config, GPT1Config)
    assert config.to_diff_dict() == model.config.to_diff_dict()

    lm = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert type(lm) is GPT1LMHeadModel
    assert torch.equal(lm(input_ids).logits, model(input_ids).logits)

    backbone = AutoModel.from_pretrained(tmp_path).eval()
    assert type(backbone) is GPT1Model
    expected = model.transformer(input_ids).last_hidden_state
    assert torch.equal(backbone(input_ids).last_hidden_state, expected)


# ---------------------------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------------------------

NO_DROPOUT = dict(resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)


def _gradients(model, input_ids):
    """Gradients of the LM loss, and how many times the first block's MLP ran (2 when its forward is recomputed)."""
    calls = []
    hook = model.transformer.h[0].mlp.register_forward_hook(lambda *args: calls.append(1))
    model.train()
    model(input_ids, labels=input_ids).loss.backward()
    hook.remove()
    return {name: p.grad.clone() for name, p in model.named_parameters()}, len(calls)


@pytest.mark.filterwarnings("ignore:`gradient_checkpointing_enable` is deprecated:FutureWarning")
@pytest.mark.parametrize("enable", ["activation_checkpointing_enable", "gradient_checkpointing_enable"])
def test_gradient_checkpointing_gives_the_same_gradients(input_ids, enable):
    """Both the current name and the deprecated alias (still what many training scripts call) must work."""
    plain, plain_calls = _gradients(make_lm(**NO_DROPOUT), input_ids)

    model = make_lm(**NO_DROPOUT)
    getattr(model, enable)()
    checkpointed, checkpointed_calls = _gradients(model, input_ids)

    assert (plain_calls, checkpointed_calls) == (1, 2), "checkpointing should recompute each block in backward"
    assert plain.keys() == checkpointed.keys()
    for name in plain:
        torch.testing.assert_close(checkpointed[name], plain[name], msg=name)


def test_a_few_adamw_steps_lower_the_loss(input_ids):
    model = make_lm(**NO_DROPOUT).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(10):
        loss = model(input_ids, labels=input_ids).loss
        losses.append(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert losses[-1] < 0.5 * losses[0], losses


# ---------------------------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------------------------


def test_too_long_sequence_is_rejected(model, config):
    with pytest.raises(ValueError, match="n_positions"):
        model(torch.zeros(1, config.n_positions + 1, dtype=torch.long))


def test_too_long_with_cache_is_rejected(model, config):
    cache = model(torch.zeros(1, config.n_positions - 2, dtype=torch.long), use_cache=True).cache
    with pytest.raises(ValueError, match=r"cached.*n_positions"):
        model(torch.zeros(1, 3, dtype=torch.long), cache=cache)


@pytest.mark.parametrize("bad_id", [-1, 99, 1000])
def test_token_ids_outside_the_vocabulary_are_rejected(model, bad_id):
    with pytest.raises(ValueError, match="vocab_size"):
        model(torch.tensor([[1, bad_id, 2]]))


def test_attention_mask_of_wrong_shape_is_rejected(model, input_ids):
    with pytest.raises(ValueError, match="attention_mask"):
        model(input_ids, attention_mask=torch.ones(2, input_ids.shape[1] - 1, dtype=torch.long))


def test_both_or_neither_of_ids_and_embeds_is_rejected(model, input_ids):
    with pytest.raises(ValueError, match="input_ids or inputs_embeds"):
        model(input_ids, inputs_embeds=model.transformer.wte(input_ids))
    with pytest.raises(ValueError, match="input_ids or inputs_embeds"):
        model()


def test_the_feed_forward_runs_gpts_tanh_gelu_as_one_kernel_with_the_same_values_and_gradients():
    """afn="gelu_new" (GPT's tanh GELU) runs as torch's gelu(approximate="tanh"): one kernel, no saved intermediates,
    and the same function as Transformers' chain of element-wise ops, forward and backward."""
    from transformers.activations import ACT2FN, GELUTanh

    model = make_lm()
    assert model.config.afn == "gelu_new"
    assert all(isinstance(block.mlp.act, GELUTanh) for block in model.transformer.h)
    x = torch.linspace(-12, 12, 10001).requires_grad_()
    fused, chain = model.transformer.h[0].mlp.act(x), ACT2FN["gelu_new"](x)
    torch.testing.assert_close(fused, chain, atol=1e-6, rtol=1e-6)
    (fused_grad,), (chain_grad,) = torch.autograd.grad(fused.sum(), x), torch.autograd.grad(chain.sum(), x)
    torch.testing.assert_close(fused_grad, chain_grad, atol=1e-5, rtol=1e-5)
    other = make_config(afn="relu")
    assert isinstance(GPT1LMHeadModel(other).transformer.h[0].mlp.act, torch.nn.ReLU)  # other names as named

"""The Transformers contract: GPT-1 behaves in every generic path as the library's own models do, with Transformers'
GPT-2 (`GPT2LMHeadModel`) and openai-gpt of the installed version as the reference wherever the library defines the
behaviour."""

import warnings

import pytest
import torch
from conftest import pad_batch
from huggingface_hub.errors import StrictDataclassClassValidationError, StrictDataclassFieldValidationError
from transformers import (
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForMultipleChoice,
    AutoModelForSequenceClassification,
    DataCollatorWithFlattening,
    GPT2Config,
    GPT2LMHeadModel,
)
from transformers.cache_utils import DynamicCache, StaticCache

from modeling_gpt1 import (
    GPT1Config,
    GPT1ForMultipleChoice,
    GPT1ForSequenceClassification,
    GPT1ForSimilarity,
    GPT1LMHeadModel,
    GPT1Model,
    GPT1WithAuxiliaryLM,
)
from modeling_gpt1.convert import to_openai_gpt
from modeling_gpt1.cpu_training import BLOCK_CAUSAL


# The tiny shape; the special tokens take ids 96..99.
SHAPE = dict(n_layer=2, n_embd=32, n_head=4, vocab_size=100, n_positions=64, initializer_range=0.2)
IMPLEMENTATIONS = ["eager", "sdpa"]
CONFIG_ERRORS = (StrictDataclassFieldValidationError, StrictDataclassClassValidationError)


def gpt1(implementation="sdpa", model_class=GPT1LMHeadModel, seed=0, **overrides):
    torch.manual_seed(seed)
    config = GPT1Config(**{**SHAPE, **overrides}, attn_implementation=implementation)
    return model_class(config).eval()


def gpt2(implementation="sdpa", seed=0):
    """Transformers' GPT-2 of the same size: the reference for behaviour the library defines."""
    torch.manual_seed(seed)
    config = GPT2Config(n_layer=2, n_embd=32, n_head=4, vocab_size=100, n_positions=64, bos_token_id=0, eos_token_id=0)
    config._attn_implementation = implementation
    return GPT2LMHeadModel(config).eval()


def documents(*lengths, seed=1):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randint(0, 90, (length,), generator=generator) for length in lengths]


def packed_row(docs):
    """One row holding every document, positions restarting at 0 for each (padding-free training's layout)."""
    ids = torch.cat(docs)[None]
    positions = torch.cat([torch.arange(len(doc)) for doc in docs])[None]
    return ids, positions


def assert_each_document_as_alone(model, docs, **forward_kwargs):
    ids, positions = packed_row(docs)
    with torch.no_grad():
        packed = model(ids, position_ids=positions, **forward_kwargs).logits[0]
        start = 0
        for doc in docs:
            alone = model(doc[None], **forward_kwargs).logits[0]
            torch.testing.assert_close(packed[start : start + len(doc)], alone, atol=1e-5, rtol=1e-5)
            start += len(doc)


# ---------------------------------------------------------------------------------------------------------------
# 1. Packed sequences (padding-free training)
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("use_cache", [None, False], ids=["default-use_cache", "no-cache"])
def test_packed_documents_give_the_logits_of_each_document_alone(implementation, use_cache):
    assert_each_document_as_alone(gpt1(implementation), documents(6, 5), use_cache=use_cache)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_reference_gpt2_gives_each_packed_document_its_own_logits(implementation):
    """What the library's GPT-2 does with the same layout (without a cache: with one it does not detect packing)."""
    assert_each_document_as_alone(gpt2(implementation), documents(6, 5), use_cache=False)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_a_packed_row_longer_than_the_context_is_accepted_when_its_positions_fit(implementation):
    model = gpt1(implementation)
    docs = documents(40, 40, 20)  # a row of 100 tokens, positions up to 39 of 64
    assert_each_document_as_alone(model, docs)


def test_positions_beyond_the_context_are_rejected_naming_position_ids():
    model = gpt1()
    with pytest.raises(ValueError, match=r"position_ids.*n_positions=64"):
        model(torch.tensor([[1, 2, 3]]), position_ids=torch.tensor([[0, 1, 64]]))


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_padded_and_padding_free_batches_give_the_same_logits_and_loss(implementation):
    """DataCollatorWithFlattening (padding-free) against the same examples right-padded with a mask."""
    model = gpt1(implementation)
    docs = documents(7, 4, 9)
    packed = DataCollatorWithFlattening(return_tensors="pt")([{"input_ids": doc.tolist()} for doc in docs])
    assert "attention_mask" not in packed
    width = max(len(doc) for doc in docs)
    ids = torch.full((len(docs), width), model.config.pad_token_id)
    mask = torch.zeros(len(docs), width, dtype=torch.long)
    for row, doc in enumerate(docs):
        ids[row, : len(doc)], mask[row, : len(doc)] = doc, 1
    labels = ids.masked_fill(mask == 0, -100)
    with torch.no_grad():
        padding_free = model(**packed)
        padded = model(ids, attention_mask=mask, labels=labels)
    start = 0
    for row, doc in enumerate(docs):
        torch.testing.assert_close(
            padding_free.logits[0, start : start + len(doc)], padded.logits[row, : len(doc)], atol=1e-5, rtol=1e-5
        )
        start += len(doc)
    torch.testing.assert_close(padding_free.loss, padded.loss, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_prepared_4d_masks_give_the_logits_of_the_2d_mask(implementation):
    """A prepared 4D mask, boolean (True attends) or additive (0 or the dtype's minimum), is taken as given."""
    model = gpt1(implementation)
    ids = torch.tensor([[5, 6, 7, 8, 9], [99, 99, 10, 11, 12]])
    mask = torch.tensor([[1, 1, 1, 1, 1], [0, 0, 1, 1, 1]])
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    allowed = torch.ones(5, 5, dtype=torch.bool).tril()[None, None] & mask.bool()[:, None, None, :]
    allowed = allowed | torch.eye(5, dtype=torch.bool)  # padding rows see themselves (their output is ignored)
    additive = torch.zeros(allowed.shape).masked_fill(~allowed, torch.finfo(torch.float32).min)
    with torch.no_grad():
        expected = model(ids, attention_mask=mask).logits
        for prepared in (allowed, additive):
            logits = model(ids, attention_mask=prepared, position_ids=positions).logits
            torch.testing.assert_close(logits[0], expected[0], atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(logits[1, 2:], expected[1, 2:], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_a_prepared_4d_mask_for_a_static_cache_spans_its_slots(implementation):
    model = gpt1(implementation)
    ids = torch.tensor([[5, 6, 7, 8, 9, 10, 11]])
    slots = torch.arange(12)
    with torch.no_grad():
        expected = model(ids).logits
        cache = StaticCache(config=model.config, max_cache_len=12)
        chunks = []
        for start, end in ((0, 4), (4, 7)):
            allowed = (slots[None, :] <= torch.arange(start, end)[:, None])[None, None]  # [1, 1, new tokens, 12]
            chunks.append(model(ids[:, start:end], attention_mask=allowed, cache=cache).logits)
    torch.testing.assert_close(torch.cat(chunks, dim=1), expected, atol=1e-5, rtol=1e-5)


def test_a_flex_attention_block_mask_is_taken_as_prepared():
    from torch.nn.attention.flex_attention import create_block_mask

    model, reference = gpt1("flex_attention"), gpt1("eager")
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    block_mask = create_block_mask(lambda batch, head, query, key: query >= key, 1, None, 5, 5, device="cpu")
    with torch.no_grad():
        torch.testing.assert_close(model(ids, attention_mask=block_mask).logits, reference(ids).logits)
        with pytest.raises(ValueError, match="cannot read a BlockMask attention mask"):
            model(ids, attention_mask=block_mask, output_attentions=True)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_the_lm_loss_of_a_left_padded_batch_is_that_of_the_right_padded_one(implementation):
    """A left-padded row's first token is predicted from a padding state, which saw no text and which eager and sdpa
    fill differently: it is no target, so the loss is that of the right-padded batch under every backend."""
    model = gpt1(implementation)
    docs = [doc.tolist() for doc in documents(7, 4, 9)]
    losses = []
    for side in ("left", "right"):
        ids, mask = pad_batch(docs, model.config.pad_token_id, side)
        with torch.no_grad():
            losses.append(model(ids, attention_mask=mask, labels=ids.masked_fill(mask == 0, -100)).loss)
    torch.testing.assert_close(losses[0], losses[1], atol=1e-5, rtol=1e-5)


# ---------------------------------------------------------------------------------------------------------------
# 2. The deprecated `past_key_values` name
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model_factory", [gpt1, gpt2], ids=["gpt1", "reference-gpt2"])
def test_past_key_values_warns_then_does_what_cache_does(model_factory):
    model = model_factory()
    ids = torch.randint(0, 90, (1, 10), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        full = model(ids).logits
        prefix_cache = model(ids[:, :6], use_cache=True).cache
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            continued = model(ids[:, 6:], past_key_values=prefix_cache)
    assert any("past_key_values" in str(warning.message) for warning in caught)
    torch.testing.assert_close(continued.logits, full[:, 6:], atol=1e-5, rtol=1e-5)
    assert prefix_cache.get_seq_length() == 10
    assert continued.cache is prefix_cache


def test_the_backbone_accepts_past_key_values_too():
    model = gpt1(model_class=GPT1Model)
    ids = torch.tensor([[1, 2, 3, 4]])
    with torch.no_grad():
        full = model(ids).last_hidden_state
        cache = model(ids[:, :2], use_cache=True).cache
        with pytest.warns(FutureWarning, match="past_key_values"):
            step = model(ids[:, 2:], past_key_values=cache).last_hidden_state
    torch.testing.assert_close(step, full[:, 2:], atol=1e-5, rtol=1e-5)


# ---------------------------------------------------------------------------------------------------------------
# 3. Keyword arguments: unknown ones are errors, token_type_ids as openai-gpt
# ---------------------------------------------------------------------------------------------------------------


def every_public_forward():
    """(name, model, inputs) for every public model class and the auxiliary wrapper."""
    ids = torch.tensor([[96, 1, 2, 97, 3, 98]])
    pair = ids[:, None].expand(1, 2, -1)
    return [
        ("GPT1Model", gpt1(model_class=GPT1Model), {"input_ids": ids}),
        ("GPT1LMHeadModel", gpt1(), {"input_ids": ids}),
        ("GPT1ForSequenceClassification", gpt1(model_class=GPT1ForSequenceClassification), {"input_ids": ids}),
        ("GPT1ForSimilarity", gpt1(model_class=GPT1ForSimilarity), {"input_ids": pair}),
        ("GPT1ForMultipleChoice", gpt1(model_class=GPT1ForMultipleChoice), {"input_ids": pair}),
        (
            "GPT1Model",  # the wrapper hands its extra arguments to the decoder, which names itself
            GPT1WithAuxiliaryLM(gpt1(model_class=GPT1ForSequenceClassification)),
            {"input_ids": ids},
        ),
    ]


@pytest.mark.parametrize("name, model, inputs", every_public_forward(), ids=lambda value: str(type(value).__name__))
@pytest.mark.parametrize("keyword", ["token_typ_ids", "head_mask", "past_key_value", "return_dictt"])
def test_every_public_forward_rejects_an_unknown_keyword_naming_it(name, model, inputs, keyword):
    with pytest.raises(TypeError, match=rf"{name}.forward\(\) got unexpected keyword argument\(s\) '{keyword}'"):
        model(**inputs, **{keyword: torch.zeros_like(inputs["input_ids"])})


@pytest.mark.parametrize("name, model, inputs", every_public_forward(), ids=lambda value: str(type(value).__name__))
def test_every_public_forward_takes_transformers_model_kwargs(name, model, inputs):
    """The library's own kwargs (Trainer's num_items_in_batch, output flags, return_dict) pass."""
    with torch.no_grad():
        output = model(**inputs, num_items_in_batch=torch.tensor(3), output_hidden_states=True, return_dict=True)
    assert output[0] is not None


def test_token_type_ids_add_segment_embeddings_as_openai_gpt_does():
    """Transformers' openai-gpt embeds token_type_ids with the token embedding and adds them: same weights, same
    inputs, same logits."""
    model = gpt1()
    reference = to_openai_gpt(model)  # Transformers' openai-gpt with the same weights
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    segments = torch.tensor([[96, 96, 97, 97, 97]])
    with torch.no_grad():
        ours = model(ids, token_type_ids=segments).logits
        theirs = reference(ids, token_type_ids=segments).logits
        plain = model(ids).logits
        torch.testing.assert_close(plain, reference(ids).logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(ours, plain)


def test_the_tokenizer_output_carries_no_token_type_ids():
    """Supporting token_type_ids must not change what a tokenizer's output does: ours produces none."""
    from modeling_gpt1 import GPT1Tokenizer

    assert "token_type_ids" not in GPT1Tokenizer.model_input_names


# ---------------------------------------------------------------------------------------------------------------
# 4. Auto classes from a config
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "auto_class, expected",
    [
        (AutoModel, GPT1Model),
        (AutoModelForCausalLM, GPT1LMHeadModel),
        (AutoModelForSequenceClassification, GPT1ForSequenceClassification),
        (AutoModelForMultipleChoice, GPT1ForMultipleChoice),
    ],
)
def test_every_auto_class_builds_from_a_config(auto_class, expected):
    config = GPT1Config(n_layer=2, n_embd=32, n_head=4, vocab_size=64, n_positions=32)
    assert type(auto_class.from_config(config)) is expected


# ---------------------------------------------------------------------------------------------------------------
# 5. output_attentions under every backend
# ---------------------------------------------------------------------------------------------------------------


def attention_cases():
    ids = torch.tensor([[5, 6, 7, 8, 9, 10], [99, 99, 11, 12, 13, 14]])
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1]])
    packed_ids, packed_positions = packed_row(documents(4, 3))
    return {
        "plain": dict(input_ids=ids[:1]),
        "left-padded": dict(input_ids=ids, attention_mask=mask),
        "packed": dict(input_ids=packed_ids, position_ids=packed_positions),
    }


@pytest.mark.parametrize("implementation", ["sdpa", "flex_attention", BLOCK_CAUSAL])
@pytest.mark.parametrize("case", list(attention_cases()))
def test_every_backend_returns_the_attention_weights_eager_computes(case, implementation):
    inputs = attention_cases()[case]
    eager, model = gpt1("eager"), gpt1(implementation)
    with torch.no_grad():
        expected = eager(**inputs, output_attentions=True)
        actual = model(**inputs, output_attentions=True)
    batch, length = inputs["input_ids"].shape
    assert len(actual.attentions) == model.config.n_layer
    for ours, reference in zip(actual.attentions, expected.attentions):
        assert ours.shape == (batch, model.config.n_head, length, length)
        torch.testing.assert_close(ours, reference, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(actual.logits, expected.logits, atol=1e-5, rtol=1e-5)


def test_attention_weights_of_a_cached_step_cover_the_cache():
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    for implementation in IMPLEMENTATIONS:
        model = gpt1(implementation)
        with torch.no_grad():
            cache = model(ids[:, :4], use_cache=True).cache
            step = model(ids[:, 4:], cache=cache, output_attentions=True)
            full = gpt1("eager")(ids, output_attentions=True)
        for weights, reference in zip(step.attentions, full.attentions):
            assert weights.shape == (1, 4, 1, 5)
            torch.testing.assert_close(weights[0, :, 0], reference[0, :, -1], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("implementation", [*IMPLEMENTATIONS, BLOCK_CAUSAL])
def test_attention_weights_with_a_static_cache_change_nothing_else(implementation):
    # sdpa's mask for a static cache's first chunk is None (its `is_causal` aligns the queries with the first keys,
    # the cache's empty slots following); the weights are computed eagerly, from a mask built for eager attention.
    model, reference = gpt1(implementation), gpt1("eager")
    ids = torch.tensor([[5, 6, 7, 8, 9, 10, 11]])
    with torch.no_grad():
        uncached = model(ids).logits
        expected = reference(ids, output_attentions=True).attentions
        cache = StaticCache(config=model.config, max_cache_len=12)
        first = model(ids[:, :4], cache=cache, output_attentions=True)
        second = model(ids[:, 4:], cache=cache, output_attentions=True)
    torch.testing.assert_close(torch.cat([first.logits, second.logits], dim=1), uncached, atol=1e-5, rtol=1e-5)
    for layer in range(model.config.n_layer):
        weights = torch.cat([first.attentions[layer], second.attentions[layer]], dim=2)  # [1, heads, 7, 12 slots]
        torch.testing.assert_close(weights[..., :7], expected[layer], atol=1e-5, rtol=1e-5)
        assert not weights[..., 7:].any()  # the empty slots get no weight


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_generate_with_a_static_cache_and_attention_weights_as_without(implementation):
    model = gpt1(implementation)
    prompt = torch.tensor([[5, 6, 7, 8, 9]])
    asked = dict(max_new_tokens=6, do_sample=False, return_dict_in_generate=True, output_logits=True)
    with torch.no_grad():
        plain = model.generate(prompt, **asked)
        static = model.generate(prompt, cache_implementation="static", output_attentions=True, **asked)
    assert torch.equal(static.sequences, plain.sequences)
    torch.testing.assert_close(torch.stack(static.logits), torch.stack(plain.logits), atol=1e-5, rtol=1e-5)
    first_query = static.attentions[0][0][0, :, 0]  # prompt step, layer 0: [heads, cache slots]
    assert torch.all(first_query[:, 0] == 1) and not first_query[:, 1:].any()


def test_heads_return_attention_weights_under_sdpa():
    model = gpt1(model_class=GPT1ForSequenceClassification)
    with torch.no_grad():
        output = model(torch.tensor([[96, 1, 2, 98]]), output_attentions=True)
    assert len(output.attentions) == 2 and output.attentions[0].shape == (1, 4, 4, 4)


# ---------------------------------------------------------------------------------------------------------------
# 6. torch.compile
# ---------------------------------------------------------------------------------------------------------------


def test_a_forward_and_a_cached_decoding_step_compile_without_graph_breaks():
    torch._dynamo.reset()
    model = gpt1()
    ids = torch.tensor([[5, 6, 7, 8]])
    with torch.no_grad():
        explanation = torch._dynamo.explain(model)(ids, use_cache=False)
        assert explanation.graph_break_count == 0, explanation.break_reasons
        cache = model(ids, use_cache=True).cache
        step = torch._dynamo.explain(model)(torch.tensor([[9]]), cache=cache)
        assert step.graph_break_count == 0, step.break_reasons


def test_a_training_forward_with_labels_compiles_without_graph_breaks():
    """With its loss type named, the loss logs no warning: no graph break (GPT-2's unnamed loss type breaks it)."""
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    breaks = {}
    for name, factory in (("gpt1", gpt1), ("gpt2", gpt2)):
        torch._dynamo.reset()
        breaks[name] = torch._dynamo.explain(factory().train())(input_ids=ids, labels=ids).graph_break_count
    assert breaks["gpt1"] == 0 and breaks["gpt2"] >= breaks["gpt1"], breaks


def test_fullgraph_compile_gives_the_eager_logits():
    torch._dynamo.reset()
    model = gpt1()
    ids = torch.tensor([[5, 6, 7, 8]])
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    with torch.no_grad():
        torch.testing.assert_close(compiled(ids, use_cache=False).logits, model(ids, use_cache=False).logits)
        cache = DynamicCache(config=model.config)
        model(ids, cache=cache)
        reference = DynamicCache(config=model.config)
        model(ids, cache=reference)
        torch.testing.assert_close(
            compiled(torch.tensor([[9]]), cache=cache).logits, model(torch.tensor([[9]]), cache=reference).logits
        )


def test_static_cache_generation_with_compilation_matches_dynamic_cache_generation():
    torch._dynamo.reset()
    from transformers import CompileConfig

    model = gpt1()
    prompt = torch.tensor([[5, 6, 7]])
    settings = dict(max_new_tokens=6, do_sample=False)
    expected = model.generate(prompt, **settings)
    compiled = model.generate(
        prompt,
        cache_implementation="static",
        compile_config=CompileConfig(backend="eager", fullgraph=True),
        **settings,
    )
    assert torch.equal(compiled, expected)


# ---------------------------------------------------------------------------------------------------------------
# 8. Config validation
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, value",
    [("resid_pdrop", 1.5), ("attn_pdrop", -0.1), ("n_embd", 0), ("vocab_size", "large"), ("initializer_range", 0.0)],
)
def test_a_bad_value_set_after_construction_is_rejected_at_once(field, value):
    config = GPT1Config(**SHAPE)
    with pytest.raises(StrictDataclassFieldValidationError, match=field):
        setattr(config, field, value)


def test_an_inconsistent_config_is_not_saved(tmp_path):
    config = GPT1Config(**SHAPE)
    config.n_head = 5
    with pytest.raises(StrictDataclassClassValidationError, match=r"n_embd \(32\) must be divisible by n_head \(5\)"):
        config.save_pretrained(tmp_path)
    assert not (tmp_path / "config.json").exists()


def test_an_invalid_saved_config_is_rejected_on_load(tmp_path):
    GPT1Config(**SHAPE).save_pretrained(tmp_path)
    text = (tmp_path / "config.json").read_text().replace('"n_head": 4', '"n_head": 5')
    (tmp_path / "config.json").write_text(text)
    with pytest.raises(CONFIG_ERRORS, match="n_head"):
        GPT1Config.from_pretrained(tmp_path)


@pytest.mark.parametrize("shared", ["start_token_id", "delimiter_token_id", "pad_token_id"])
def test_special_ids_must_be_distinct(shared):
    with pytest.raises(StrictDataclassClassValidationError, match="distinct"):
        GPT1Config(**SHAPE, **{shared: 98})  # 98 is the extract token's id


def test_resizing_away_a_special_token_is_a_clear_error():
    model = gpt1()
    with pytest.raises(StrictDataclassClassValidationError, match=r"token_id=9[78] lies outside the vocabulary"):
        model.resize_token_embeddings(97)


def test_resizing_up_keeps_a_valid_config():
    model = gpt1()
    model.resize_token_embeddings(104)
    assert model.config.vocab_size == 104
    model.config.validate()


# ---------------------------------------------------------------------------------------------------------------
# 9. Gradient checkpointing and the cache
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model_factory", [gpt1, gpt2], ids=["gpt1", "reference-gpt2"])
def test_gradient_checkpointing_in_training_returns_no_cache(model_factory, caplog):
    model = model_factory()
    model.gradient_checkpointing_enable()
    model.train()
    output = model(torch.tensor([[1, 2, 3, 4]]), use_cache=True)
    assert output.cache is None
    output.logits.sum().backward()


@pytest.mark.parametrize(
    "name, model, inputs", every_public_forward()[:5], ids=lambda value: str(type(value).__name__)
)
def test_return_dict_false_returns_the_output_as_a_tuple(name, model, inputs):
    with torch.no_grad():
        as_dict = model(**inputs)
        as_tuple = model(**inputs, return_dict=False)
    assert isinstance(as_tuple, tuple)
    torch.testing.assert_close(as_tuple[0], as_dict[0])


# ---------------------------------------------------------------------------------------------------------------
# Trainer's label smoothing
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model_factory", [gpt1, gpt2], ids=["gpt1", "gpt2"])
def test_trainer_label_smoothing_scores_the_next_token_as_for_gpt2(model_factory, tmp_path):
    """Trainer's label smoother shifts the labels of the causal LMs in Transformers' table alone: GPT-1 was not in
    it, so `label_smoothing_factor` scored each position against its own token (a silently wrong objective)."""
    from transformers import Trainer, TrainingArguments
    from transformers.trainer_pt_utils import LabelSmoother

    model = model_factory()
    ids = torch.randint(0, 90, (2, 12), generator=torch.Generator().manual_seed(3))
    args = TrainingArguments(tmp_path, label_smoothing_factor=0.1, report_to=[], use_cpu=True)
    with torch.no_grad():
        loss = Trainer(model=model, args=args).compute_loss(model, {"input_ids": ids, "labels": ids.clone()})
        logits = model(ids).logits
    next_token = LabelSmoother(epsilon=0.1)({"logits": logits}, ids, shift_labels=True)
    same_token = LabelSmoother(epsilon=0.1)({"logits": logits}, ids)
    torch.testing.assert_close(loss, next_token)
    assert not torch.allclose(loss, same_token)


def test_trainer_counts_the_shifted_labels_so_its_loss_is_the_mean_over_targets(tmp_path):
    """Trainer divides the summed loss by `num_items_in_batch`, counting `labels[..., 1:]` only for models whose
    `loss_type` it knows to shift: GPT-1's class name does not say so, and every row's first label was counted
    too (the loss scaled by targets / (targets + rows), with the batch's shape), as GPT-2's still are."""
    from transformers import Trainer, TrainingArguments

    model = gpt1()
    docs = documents(7, 4, 9, 3)
    ids, mask = pad_batch([doc.tolist() for doc in docs], model.config.pad_token_id, "right")
    batch = {"input_ids": ids, "attention_mask": mask, "labels": ids.masked_fill(mask == 0, -100)}
    trainer = Trainer(model=model, args=TrainingArguments(tmp_path, report_to=[], use_cpu=True))
    _, num_items = trainer.get_batch_samples(iter([batch]), 1, torch.device("cpu"))
    with torch.no_grad():
        loss = trainer.compute_loss(model, dict(batch), num_items_in_batch=num_items)
        alone = [model(doc[None], labels=doc[None]).loss * (len(doc) - 1) for doc in docs]
    assert int(num_items) == sum(len(doc) - 1 for doc in docs)
    torch.testing.assert_close(loss, sum(alone) / int(num_items), atol=1e-5, rtol=1e-5)

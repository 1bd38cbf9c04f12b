"""`generate` through transformers' GenerationMixin: KV cache, left padding, sampling, beams, streaming."""

import copy
import warnings

import pytest
import torch
from conftest import TINY, pad_batch
from transformers import Cache, DynamicCache, StaticCache
from transformers.generation.streamers import BaseStreamer

from modeling_gpt1 import GPT1Config, GPT1LMHeadModel


PROMPTS = [[5, 17, 42, 8, 3, 61], [9, 28, 33], [70, 2, 11, 54]]


@pytest.fixture
def prompt(input_ids):
    return input_ids[:1]


def test_cache_gives_the_same_greedy_tokens_as_no_cache(model, input_ids):
    cached = model.generate(input_ids, max_new_tokens=12, do_sample=False)
    uncached = model.generate(input_ids, max_new_tokens=12, do_sample=False, use_cache=False)
    assert cached.shape == (2, input_ids.shape[1] + 12)
    assert torch.equal(cached, uncached)


def test_left_padded_batch_gives_the_same_tokens_as_one_prompt_at_a_time(model, config):
    ids, mask = pad_batch(PROMPTS, config.pad_token_id, "left")
    batched = model.generate(
        ids, attention_mask=mask, max_new_tokens=10, do_sample=False, pad_token_id=config.pad_token_id
    )
    new_tokens = batched[:, ids.shape[1] :]
    for i, row in enumerate(PROMPTS):
        alone = model.generate(torch.tensor([row]), max_new_tokens=10, do_sample=False)
        assert torch.equal(new_tokens[i], alone[0, len(row) :]), f"prompt {i} continues differently when batched"


@pytest.mark.parametrize(
    "settings",
    [dict(do_sample=False), dict(num_beams=3, do_sample=False), dict(do_sample=True, top_k=5)],
    ids=["greedy", "beam search", "sampling"],
)
def test_a_right_padded_batch_generates_what_the_left_padded_one_does(model, config, settings):
    """`generate` moves right padding to the left (the library only warns, and continues each short prompt from
    its padding); the sequences come back left-padded."""
    right_ids, right_mask = pad_batch(PROMPTS, config.pad_token_id, "right")
    left_ids, left_mask = pad_batch(PROMPTS, config.pad_token_id, "left")
    outputs = []
    for ids, mask in ((right_ids, right_mask), (left_ids, left_mask)):
        torch.manual_seed(0)
        outputs.append(
            model.generate(ids, attention_mask=mask, max_new_tokens=6, pad_token_id=config.pad_token_id, **settings)
        )
    assert torch.equal(outputs[0], outputs[1])


def test_right_padded_prompt_embeddings_generate_what_each_prompt_does_alone(model, config):
    """From `inputs_embeds` too: a right-padded row went on from its padding's embeddings (GPT-2 alike)."""
    ids, mask = pad_batch(PROMPTS, config.pad_token_id, "right")
    settings = dict(max_new_tokens=5, do_sample=False, pad_token_id=config.pad_token_id)
    embed = model.get_input_embeddings()
    new_tokens = model.generate(inputs_embeds=embed(ids), attention_mask=mask, **settings)
    for row, prompt in zip(new_tokens, PROMPTS):
        assert torch.equal(row, model.generate(inputs_embeds=embed(torch.tensor([prompt])), **settings)[0])


@pytest.mark.parametrize(
    "extra",
    [dict(cache=None), dict(past_key_values=None), dict(position_ids=None), "fresh DynamicCache"],
    ids=["cache=None", "past_key_values=None", "position_ids=None", "fresh DynamicCache"],
)
def test_an_empty_cache_or_no_positions_still_moves_right_padding(model, config, extra):
    """Only a cache holding tokens (a continuation) or given positions keep the layout; their keys alone did."""
    extra = dict(cache=DynamicCache(config=config)) if extra == "fresh DynamicCache" else extra
    ids, mask = pad_batch(PROMPTS, config.pad_token_id, "right")
    settings = dict(max_new_tokens=5, do_sample=False, pad_token_id=config.pad_token_id)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # past_key_values is deprecated
        new_tokens = model.generate(ids, attention_mask=mask, **settings, **extra)[:, ids.shape[1] :]
    for row, prompt in zip(new_tokens, PROMPTS):
        assert torch.equal(row, model.generate(torch.tensor([prompt]), **settings)[0, len(prompt) :])


def test_continuing_right_padded_prompts_needs_the_mask_of_the_returned_sequences(model, config):
    """The returned sequences hold the prompts left-padded: the prompts' own mask, extended, would attend padding and
    mask text (a silently wrong continuation); it is refused, and the mask of the sequences continues exactly."""
    ids, mask = pad_batch(PROMPTS, config.pad_token_id, "right")
    settings = dict(do_sample=False, pad_token_id=config.pad_token_id)
    at_once = model.generate(ids, attention_mask=mask, max_new_tokens=6, **settings)
    first = model.generate(ids, attention_mask=mask, max_new_tokens=3, return_dict_in_generate=True, **settings)
    extended = torch.cat([mask, torch.ones(len(PROMPTS), 3, dtype=mask.dtype)], dim=1)
    with pytest.raises(ValueError, match=r"attention_mask attends the padding before the text of row\(s\) \[1, 2\]"):
        model.generate(first.sequences, attention_mask=extended, cache=first.cache, max_new_tokens=3, **settings)
    sequences_mask = (first.sequences != config.pad_token_id).long()
    continued = model.generate(
        first.sequences, attention_mask=sequences_mask, cache=first.cache, max_new_tokens=3, **settings
    )
    assert torch.equal(continued, at_once)


def test_a_mask_attending_left_padding_is_refused(model, config):
    ids, _ = pad_batch(PROMPTS, config.pad_token_id, "left")
    with pytest.raises(ValueError, match="does not describe these input_ids"):
        model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=2, do_sample=False)


def test_sampling_with_a_fixed_seed_is_reproducible(model, prompt):
    def sample(seed):
        torch.manual_seed(seed)
        return model.generate(prompt, max_new_tokens=12, do_sample=True, top_k=0)

    assert torch.equal(sample(1), sample(1))
    assert not torch.equal(sample(1), sample(2))


def test_beam_search_returns_the_requested_sequences(model, prompt):
    outputs = model.generate(
        prompt,
        max_new_tokens=6,
        num_beams=4,
        num_return_sequences=3,
        do_sample=False,
        return_dict_in_generate=True,
        output_scores=True,
    )
    assert outputs.sequences.shape == (3, prompt.shape[1] + 6)
    assert torch.equal(outputs.sequences[:, : prompt.shape[1]], prompt.expand(3, -1))
    assert len({tuple(row.tolist()) for row in outputs.sequences}) == 3, "beams should be distinct"
    scores = outputs.sequences_scores
    assert torch.all(scores[:-1] >= scores[1:]), "beams come best first"


class CollectingStreamer(BaseStreamer):
    """Stand-in for TextIteratorStreamer that needs no tokenizer: it records what `generate` pushes."""

    def __init__(self):
        self.chunks, self.ended = [], 0

    def put(self, value):
        self.chunks.append(value.reshape(-1).tolist())

    def end(self):
        self.ended += 1


def test_streamer_receives_the_prompt_then_each_new_token(model, prompt):
    streamer = CollectingStreamer()
    output = model.generate(prompt, max_new_tokens=8, do_sample=False, streamer=streamer)
    assert streamer.chunks[0] == prompt[0].tolist()
    assert all(len(chunk) == 1 for chunk in streamer.chunks[1:])
    assert sum(streamer.chunks, []) == output[0].tolist()
    assert streamer.ended == 1


def test_cache_is_a_transformers_dynamic_cache(model, input_ids):
    cache = model(input_ids, use_cache=True).cache
    assert isinstance(cache, Cache) and isinstance(cache, DynamicCache)
    assert cache.get_seq_length() == input_ids.shape[1]
    assert model(input_ids, use_cache=False).cache is None


def test_incremental_forward_equals_full_forward(model, input_ids):
    """Prefix, then one token at a time with the returned cache: the same logits as one pass over everything."""
    full = model(input_ids).logits
    prefix = 3
    outputs = model(input_ids[:, :prefix], use_cache=True)
    steps = [outputs.logits]
    for position in range(prefix, input_ids.shape[1]):
        outputs = model(input_ids[:, position : position + 1], cache=outputs.cache, use_cache=True)
        steps.append(outputs.logits)
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=1e-5)


def test_incremental_forward_with_left_padding(model, config):
    """The cached path keeps using the attention mask: padded rows step forward like unpadded ones."""
    ids, mask = pad_batch(PROMPTS, config.pad_token_id, "left")
    full = model(ids, attention_mask=mask).logits
    outputs = model(ids[:, :-1], attention_mask=mask[:, :-1], use_cache=True)
    last = model(ids[:, -1:], attention_mask=mask, cache=outputs.cache).logits
    torch.testing.assert_close(last[:, -1], full[:, -1], atol=1e-5, rtol=1e-5)


def test_static_cache_gives_the_same_tokens_as_the_dynamic_cache(model, config):
    """The fixed-size cache (the one torch.compile needs) decodes a left-padded batch exactly like the default."""
    ids, mask = pad_batch(PROMPTS, config.pad_token_id, "left")
    settings = dict(attention_mask=mask, max_new_tokens=8, do_sample=False, pad_token_id=config.pad_token_id)
    dynamic = model.generate(ids, **settings)
    static = model.generate(ids, cache_implementation="static", return_dict_in_generate=True, **settings)
    assert isinstance(static.cache, StaticCache)
    assert torch.equal(static.sequences, dynamic)


@pytest.mark.parametrize(
    "settings",
    [dict(do_sample=False), dict(do_sample=True, top_k=5), dict(num_beams=3, do_sample=False)],
    ids=["greedy", "sampling", "beam search"],
)
def test_generation_stops_at_the_context_length_whatever_length_was_asked(model, config, settings, caplog):
    prompt = torch.tensor([[5, 6, 7, 8, 9]])
    output = model.generate(prompt, max_new_tokens=100, **settings)
    assert output.shape[1] == config.n_positions


@pytest.mark.parametrize("candidates", ["prompt lookup", "the model as assistant", "a longer-context assistant"])
def test_candidate_decoding_stops_at_the_context_length_as_greedy_does(candidates):
    """Prompt-lookup and assisted decoding check several proposed tokens in one forward, before any stopping
    criterion: near the end of the context, prompt lookup's (Transformers bounds where its match ends, not how many
    it proposes) passed the last position embedding, a ValueError, instead of stopping where greedy decoding does."""
    shape = dict(n_layer=2, n_embd=32, n_head=4, vocab_size=100, n_positions=24)
    torch.manual_seed(3)
    model = GPT1LMHeadModel(GPT1Config(**shape)).eval()
    if candidates == "prompt lookup":
        asked = dict(prompt_lookup_num_tokens=5)
    elif candidates == "the model as assistant":
        asked = dict(assistant_model=copy.deepcopy(model))  # its proposals are all accepted: the longest runs
    else:
        asked = dict(assistant_model=GPT1LMHeadModel(GPT1Config(**{**shape, "n_positions": 64})).eval())
    text = torch.randint(4, 96, (1, 30), generator=torch.Generator().manual_seed(1))
    text[0, 10:20] = text[0, :10]  # a repeat, so that prompt lookup proposes long matches
    for length in (5, 18, 22, 23):
        for limit in (dict(max_new_tokens=50), dict(max_new_tokens=6), dict(max_length=24)):
            greedy = model.generate(text[:, :length], do_sample=False, **limit)
            output = model.generate(text[:, :length], do_sample=False, **limit, **asked)
            assert output.shape[1] <= 24 and torch.equal(output, greedy), (length, limit)
        sampled = model.generate(text[:, :length], do_sample=True, max_new_tokens=50, **asked)  # no proposal at 23
        assert sampled.shape[1] == 24


def test_generation_from_embeddings_stops_at_the_context_length_as_from_ids(model, config):
    """From `inputs_embeds` the returned ids hold only the new tokens: the stop counted those alone, and the
    generation ran past the last position embedding (a ValueError midway)."""
    prompt = torch.randint(0, 90, (1, config.n_positions - 10), generator=torch.Generator().manual_seed(0))
    from_ids = model.generate(prompt, max_new_tokens=30, do_sample=False)[:, prompt.shape[1] :]
    embeds = model.get_input_embeddings()(prompt)
    from_embeds = model.generate(inputs_embeds=embeds, max_new_tokens=30, do_sample=False)
    assert from_ids.shape[1] == 10 and torch.equal(from_embeds, from_ids)


def test_generation_with_the_default_length_stays_inside_the_context(model, config):
    prompt = torch.randint(0, 90, (1, config.n_positions - 3))
    assert model.generate(prompt, do_sample=False).shape[1] == config.n_positions


def test_text_generation_pipeline_runs_to_the_context_length_and_says_how_to_fit_a_long_prompt(config):
    from transformers import pipeline

    from modeling_gpt1.tokenization_gpt1 import train_gpt1_tokenizer

    texts = ["return the path of the file", "the cat sat on the mat", "open the file and read it"] * 5
    tokenizer = train_gpt1_tokenizer(iter(texts), vocab_size=60, min_frequency=1, show_progress=False)
    torch.manual_seed(0)
    lm = GPT1LMHeadModel(GPT1Config(**{**TINY, "vocab_size": len(tokenizer)}, pad_token_id=tokenizer.pad_token_id))
    generator = pipeline("text-generation", model=lm.eval(), tokenizer=tokenizer)
    for kwargs in ({}, {"max_new_tokens": 100}):
        text = generator("return the path of the", do_sample=False, **kwargs)[0]["generated_text"]
        assert len(tokenizer(text)["input_ids"]) <= config.n_positions + 1  # decoding may re-split a word
    with pytest.raises(ValueError, match=r"n_positions=64.*truncate"):
        generator(" ".join(["the cat sat on the mat"] * 20), max_new_tokens=5)

"""Transformers pipelines run GPT-1: `text-generation` with the LM head, and `text-classification` with a tokenizer
whose task template writes GPT's `_start_ text _classify_` layout, so the pipeline needs no GPT-specific code."""

import pytest
import torch
from conftest import make_config
from transformers import pipeline

from modeling_gpt1 import GPT1DataCollator, GPT1ForSequenceClassification, GPT1ForSimilarity, GPT1LMHeadModel
from modeling_gpt1.pipelines import GPT1TextClassificationPipeline, register_pipeline
from modeling_gpt1.tokenization_gpt1 import train_gpt1_tokenizer
from modeling_gpt1.transforms import InputTransform


TEXTS = ["the cat sat on the mat", "a dog ran in the park", "the film was great", "i did not like the film"]
LABELS = {0: "negative", 1: "neutral", 2: "positive"}


def tiny_tokenizer(task_template=None):
    return train_gpt1_tokenizer(
        iter(TEXTS * 5), vocab_size=60, min_frequency=1, show_progress=False, task_template=task_template
    )


def tiny_config(tokenizer, **overrides):
    """The tiny shape with the tokenizer's vocabulary and special-token ids."""
    special = {
        name: getattr(tokenizer, name)
        for name in ("start_token_id", "delimiter_token_id", "extract_token_id", "pad_token_id")
    }
    return make_config(vocab_size=len(tokenizer), **special, **overrides)


def as_dict(scores: list[dict]) -> dict[str, float]:
    return {score["label"]: score["score"] for score in scores}


@pytest.fixture(scope="module")
def classifier_parts():
    """A tokenizer with the classification template and a 3-class head, with a hook recording the input_ids."""
    tokenizer = tiny_tokenizer(task_template="classification")
    torch.manual_seed(0)
    config = tiny_config(tokenizer, num_labels=3, id2label=LABELS, label2id={v: k for k, v in LABELS.items()})
    model = GPT1ForSequenceClassification(config).eval()
    fed = []
    model.register_forward_pre_hook(lambda module, args, kwargs: fed.append(kwargs["input_ids"]), with_kwargs=True)
    return tokenizer, model, fed


def test_text_generation_pipeline_continues_the_prompt():
    tokenizer = tiny_tokenizer()
    torch.manual_seed(0)
    model = GPT1LMHeadModel(tiny_config(tokenizer)).eval()
    generator = pipeline("text-generation", model=model, tokenizer=tokenizer)

    prompt = "the cat sat on "  # the continuation is appended as is, so the prompt ends with its space
    [output] = generator(prompt, max_new_tokens=6, do_sample=False)

    prompt_ids = tokenizer(prompt, return_tensors="pt").input_ids
    new_ids = model.generate(prompt_ids, max_new_tokens=6, do_sample=False)[0, prompt_ids.shape[1] :]
    continuation = tokenizer.decode(new_ids, skip_special_tokens=True)
    assert len(new_ids) == 6 and continuation.strip()
    assert output["generated_text"] == prompt + continuation


def test_text_classification_pipeline_feeds_gpt_layout(classifier_parts):
    tokenizer, model, fed = classifier_parts
    classifier = pipeline("text-classification", model=model, tokenizer=tokenizer)
    fed.clear()

    [result] = classifier("the film was great")

    [input_ids] = fed
    text_ids = tokenizer("the film was great", add_special_tokens=False).input_ids
    assert input_ids[0].tolist() == [tokenizer.start_token_id, *text_ids, tokenizer.extract_token_id]
    with torch.no_grad():
        probabilities = model(input_ids=input_ids).logits.softmax(-1)[0]
    assert result["label"] == LABELS[int(probabilities.argmax())]
    assert result["score"] == pytest.approx(float(probabilities.max()), abs=1e-6)


def test_text_classification_pipeline_takes_a_text_pair(classifier_parts):
    tokenizer, model, fed = classifier_parts
    classifier = pipeline("text-classification", model=model, tokenizer=tokenizer, top_k=None)
    fed.clear()

    scores = classifier({"text": "the cat sat", "text_pair": "a dog ran"})

    [input_ids] = fed
    premise, hypothesis = (
        tokenizer(text, add_special_tokens=False).input_ids for text in ("the cat sat", "a dog ran")
    )
    assert input_ids[0].tolist() == [
        tokenizer.start_token_id,
        *premise,
        tokenizer.delimiter_token_id,
        *hypothesis,
        tokenizer.extract_token_id,
    ]
    assert sorted(score["label"] for score in scores) == sorted(LABELS.values())
    assert sum(score["score"] for score in scores) == pytest.approx(1.0, abs=1e-5)


def test_batched_classification_matches_one_at_a_time(classifier_parts):
    """Padding a batch must not change a prediction: the head reads the `_classify_` state, before the padding."""
    tokenizer, model, fed = classifier_parts
    classifier = pipeline("text-classification", model=model, tokenizer=tokenizer, top_k=None)
    texts = ["the film was great", "i did not like the film at all", "a dog"]

    batched = classifier(texts, batch_size=3)
    assert fed[-1].shape[0] == 3 and (fed[-1] == tokenizer.pad_token_id).any()  # one padded batch
    for text, scores in zip(texts, batched):
        [alone] = classifier(text)  # top_k=None: a list of every label's score per text
        assert as_dict(scores) == pytest.approx(as_dict(alone), abs=1e-5)


def test_classification_pipeline_loads_a_saved_folder(classifier_parts, tmp_path):
    """What a Hub user does: the folder's tokenizer keeps its template, the code loads with trust_remote_code."""
    tokenizer, model, _ = classifier_parts
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)

    from_folder = pipeline("text-classification", model=str(tmp_path), trust_remote_code=True, top_k=None)
    in_memory = pipeline("text-classification", model=model, tokenizer=tokenizer, top_k=None)
    text = {"text": "the film was great", "text_pair": "i did not like the film"}
    assert as_dict(from_folder(text)) == pytest.approx(as_dict(in_memory(text)), abs=1e-6)


# ---------------------------------------------------------------------------------------------------------------
# Similarity models: both orderings of a pair, through GPT1TextClassificationPipeline


SIMILARITY_LABELS = {0: "different", 1: "similar"}


@pytest.fixture(scope="module")
def similarity_parts():
    """A language model's tokenizer (no task template, as fine-tuning saves it for similarity) and a similarity head,
    with a hook recording the input_ids it is given."""
    tokenizer = tiny_tokenizer()
    torch.manual_seed(0)
    labels = {"id2label": SIMILARITY_LABELS, "label2id": {v: k for k, v in SIMILARITY_LABELS.items()}}
    model = GPT1ForSimilarity(tiny_config(tokenizer, num_labels=2, **labels)).eval()
    fed = []
    model.register_forward_pre_hook(lambda module, args, kwargs: fed.append(kwargs["input_ids"]), with_kwargs=True)
    return tokenizer, model, fed


def direct_scores(tokenizer, model, pairs: list[tuple[str, str]]) -> list[dict[str, float]]:
    """What the model predicts for the pairs laid out as in training (InputTransform and the collator)."""
    transform = InputTransform(tokenizer, "similarity", ("a", "b"), label_field=None, max_length=64)
    features = transform({"a": [a for a, _ in pairs], "b": [b for _, b in pairs]})
    batch = GPT1DataCollator.from_tokenizer(tokenizer, return_lm_labels=False)(
        [{"input_ids": ids} for ids in features["input_ids"]]
    )
    with torch.no_grad():
        probabilities = model(**batch).logits.softmax(-1)
    return [{SIMILARITY_LABELS[i]: float(p) for i, p in enumerate(row)} for row in probabilities]


def test_similarity_pipeline_feeds_both_orderings(similarity_parts):
    tokenizer, model, fed = similarity_parts
    similar = pipeline(
        "text-classification",
        model=model,
        tokenizer=tokenizer,
        top_k=None,
        pipeline_class=GPT1TextClassificationPipeline,
    )
    fed.clear()

    scores = similar({"text": "the cat sat", "text_pair": "a dog ran"})

    [input_ids] = fed
    a, b = (tokenizer(text, add_special_tokens=False).input_ids for text in ("the cat sat", "a dog ran"))
    start, delimiter, extract = tokenizer.start_token_id, tokenizer.delimiter_token_id, tokenizer.extract_token_id
    assert input_ids.tolist() == [[[start, *a, delimiter, *b, extract], [start, *b, delimiter, *a, extract]]]
    [expected] = direct_scores(tokenizer, model, [("the cat sat", "a dog ran")])
    assert as_dict(scores) == pytest.approx(expected, abs=1e-6)
    swapped = similar({"text": "a dog ran", "text_pair": "the cat sat"})
    assert as_dict(swapped) == pytest.approx(as_dict(scores), abs=1e-6)  # the pair has no order


def test_similarity_pipeline_batches_pairs_of_different_lengths(similarity_parts):
    tokenizer, model, fed = similarity_parts
    similar = pipeline(
        "text-classification",
        model=model,
        tokenizer=tokenizer,
        top_k=None,
        pipeline_class=GPT1TextClassificationPipeline,
    )
    pairs = [("the film was great", "i did not like the film at all"), ("a dog", "the cat"), ("the mat", "a park")]

    batched = similar([{"text": a, "text_pair": b} for a, b in pairs], batch_size=3)

    assert tuple(fed[-1].shape[:2]) == (3, 2) and (fed[-1] == tokenizer.pad_token_id).any()  # one padded batch
    for scores, expected in zip(batched, direct_scores(tokenizer, model, pairs)):
        assert as_dict(scores) == pytest.approx(expected, abs=1e-5)


def test_similarity_pipeline_asks_for_a_pair(similarity_parts):
    tokenizer, model, _ = similarity_parts
    similar = pipeline(
        "text-classification", model=model, tokenizer=tokenizer, pipeline_class=GPT1TextClassificationPipeline
    )
    with pytest.raises(ValueError, match=r"GPT1ForSimilarity compares two texts: pass \{'text': ..., 'text_pair'"):
        similar("the cat sat")


@pytest.fixture
def registered():
    from transformers.pipelines import PIPELINE_REGISTRY

    task = PIPELINE_REGISTRY.supported_tasks["text-classification"]
    before = task["impl"]
    register_pipeline()
    yield
    task["impl"] = before


def test_registered_pipeline_serves_similarity_and_leaves_other_models_alone(
    registered, similarity_parts, classifier_parts, tmp_path
):
    tokenizer, model, _ = similarity_parts
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    prediction = pipeline("text-classification", model=str(tmp_path))({"text": "the cat", "text_pair": "a dog"})
    [expected] = direct_scores(tokenizer, model, [("the cat", "a dog")])
    assert prediction["label"] == max(expected, key=expected.get)
    assert prediction["score"] == pytest.approx(max(expected.values()), abs=1e-6)

    tokenizer, classifier_model, fed = classifier_parts  # a classification head: exactly as before
    [result] = pipeline("text-classification", model=classifier_model, tokenizer=tokenizer)("the film was great")
    text_ids = tokenizer("the film was great", add_special_tokens=False).input_ids
    assert fed[-1][0].tolist() == [tokenizer.start_token_id, *text_ids, tokenizer.extract_token_id]


def test_importing_the_package_makes_text_pairs_work_for_similarity_models():
    """No explicit register_pipeline(): the import did it, so the plain pipeline call serves similarity pairs."""
    from transformers.pipelines import PIPELINE_REGISTRY

    import modeling_gpt1

    assert (
        PIPELINE_REGISTRY.supported_tasks["text-classification"]["impl"]
        is modeling_gpt1.GPT1TextClassificationPipeline
    )

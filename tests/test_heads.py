"""The fine-tuning heads: shapes, losses, extract-token pooling, similarity symmetry, shared choice dropout, loading
from pre-trained checkpoints, and clear errors on malformed input."""

import pytest
import torch
from conftest import make_config
from torch.nn import functional as F
from transformers import AutoModelForMultipleChoice, AutoModelForSequenceClassification

from modeling_gpt1 import (
    GPT1Config,
    GPT1DataCollator,
    GPT1ForMultipleChoice,
    GPT1ForSequenceClassification,
    GPT1ForSimilarity,
    GPT1LMHeadModel,
    GPT1Model,
    SpecialTokenIds,
    transforms,
)


VOCAB = 60  # special ids are the last four: start 56, delimiter 57, extract 58, pad 59
HEADS = (GPT1ForSequenceClassification, GPT1ForSimilarity, GPT1ForMultipleChoice)


def tiny_config(**overrides) -> GPT1Config:
    return make_config(vocab_size=VOCAB, **overrides)


def make_head(head_class, seed=0, **overrides):
    torch.manual_seed(seed)
    return head_class(tiny_config(**overrides)).eval()


def tokens(n, seed):
    """`n` ordinary token ids (the special ids at the end of the vocabulary left out)."""
    return torch.randint(0, VOCAB - 4, (n,), generator=torch.Generator().manual_seed(seed)).tolist()


def collate(config, examples, labels=None):
    """Right-padded batch of token-id layouts, as the data pipeline builds it."""
    features = [{"input_ids": ids} for ids in examples]
    if labels is not None:
        for feature, label in zip(features, labels):
            feature["labels"] = label
    return GPT1DataCollator.from_config(config, return_lm_labels=False)(features)


def classification_batch(config, lengths=(3, 9, 5), labels=None):
    special = SpecialTokenIds.from_config(config)
    examples = [transforms.classification(tokens(n, seed=n), special, config.n_positions) for n in lengths]
    return collate(config, examples, labels)


def similarity_batch(config, lengths=((2, 6), (5, 1)), labels=None):
    special = SpecialTokenIds.from_config(config)
    examples = [
        transforms.similarity(tokens(a, seed=a), tokens(b, seed=10 + b), special, config.n_positions)
        for a, b in lengths
    ]
    return collate(config, examples, labels)


def choice_batch(config, n_choices, batch_size=3, labels=None):
    special = SpecialTokenIds.from_config(config)
    examples = [
        transforms.multiple_choice(
            tokens(4 + i, seed=i),
            [tokens(1 + k + i, seed=100 * i + k) for k in range(n_choices)],
            special,
            config.n_positions,
        )
        for i in range(batch_size)
    ]
    return collate(config, examples, labels)


# ---------------------------------------------------------------------------------------------------------------
# Shapes and losses
# ---------------------------------------------------------------------------------------------------------------


def test_sequence_classification_logits_and_loss():
    model = make_head(GPT1ForSequenceClassification, num_labels=3)
    batch = classification_batch(model.config, labels=[0, 2, 1])
    output = model(**batch)
    assert output.logits.shape == (3, 3)
    torch.testing.assert_close(output.loss, F.cross_entropy(output.logits, batch["labels"]))


def test_ignored_labels_are_left_out_of_the_loss():
    model = make_head(GPT1ForSequenceClassification, num_labels=3)
    batch = classification_batch(model.config, labels=[0, -100, 1])
    output = model(**batch)
    expected = F.cross_entropy(output.logits[[0, 2]], batch["labels"][[0, 2]])
    torch.testing.assert_close(output.loss, expected)


@pytest.mark.parametrize(
    "head_class, make_batch, targets",
    [
        (GPT1ForSequenceClassification, classification_batch, [0.5, 4.25, 2.0]),
        (GPT1ForSimilarity, similarity_batch, [3.5, 1.0]),
    ],
)
def test_regression_with_one_label_is_mean_squared_error(head_class, make_batch, targets):
    model = make_head(head_class, num_labels=1)
    batch = make_batch(model.config, labels=targets)
    assert batch["labels"].dtype == torch.float32
    output = model(**batch)
    assert output.logits.shape == (len(targets), 1)
    torch.testing.assert_close(output.loss, F.mse_loss(output.logits.squeeze(-1), torch.tensor(targets)))


@pytest.mark.parametrize("problem_type", [None, "multi_label_classification"])
def test_multi_label_classification_is_binary_cross_entropy_per_label(problem_type):
    """Float 0/1 targets `[batch, num_labels]` make a multi-label problem, as in Transformers' heads; with the
    config's problem_type set, integer 0/1 targets (as a dataset stores them) work too."""
    model = make_head(GPT1ForSequenceClassification, num_labels=3, problem_type=problem_type)
    targets = [[1, 0, 1], [0, 0, 0], [1, 1, 0]]
    as_float = [[float(v) for v in row] for row in targets]
    batch = classification_batch(model.config, labels=as_float if problem_type is None else targets)
    output = model(**batch)
    expected = F.binary_cross_entropy_with_logits(output.logits, torch.tensor(as_float))
    torch.testing.assert_close(output.loss, expected)


def test_multi_label_targets_of_the_wrong_width_are_rejected():
    model = make_head(GPT1ForSequenceClassification, num_labels=3, problem_type="multi_label_classification")
    batch = classification_batch(model.config, labels=[[1, 0], [0, 1], [1, 1]])
    with pytest.raises(ValueError, match=r"multi-label targets must have shape \[batch, num_labels\] = \(3, 3\)"):
        model(**batch)


def test_several_class_ids_per_example_name_the_multi_label_setting():
    model = make_head(GPT1ForSequenceClassification, num_labels=3)
    batch = classification_batch(model.config, labels=[[1, 0, 1], [0, 0, 0], [1, 1, 0]])
    with pytest.raises(ValueError, match="one class id per example.*multi_label_classification"):
        model(**batch)


def test_multiple_choice_ignores_a_multi_label_problem_type():
    model = make_head(GPT1ForMultipleChoice, problem_type="multi_label_classification")
    batch = choice_batch(model.config, 2, labels=[1, 0, 1])
    output = model(**batch)
    torch.testing.assert_close(output.loss, F.cross_entropy(output.logits, torch.tensor([1, 0, 1])))


def test_similarity_logits_and_loss():
    model = make_head(GPT1ForSimilarity, num_labels=2)
    batch = similarity_batch(model.config, labels=[1, 0])
    assert batch["input_ids"].shape[:2] == (2, 2)
    output = model(**batch)
    assert output.logits.shape == (2, 2)
    torch.testing.assert_close(output.loss, F.cross_entropy(output.logits, batch["labels"]))


@pytest.mark.parametrize("n_choices", [2, 4])
def test_multiple_choice_scores_every_answer(n_choices):
    model = make_head(GPT1ForMultipleChoice)
    labels = [n_choices - 1, 0, 1]
    batch = choice_batch(model.config, n_choices, labels=labels)
    output = model(**batch)
    assert output.logits.shape == (3, n_choices)
    torch.testing.assert_close(output.loss, F.cross_entropy(output.logits, torch.tensor(labels)))

    # Each answer's score is the linear layer on that sequence's own extract state.
    flat_ids = batch["input_ids"].reshape(-1, batch["input_ids"].shape[-1])
    flat_mask = batch["attention_mask"].reshape_as(flat_ids)
    states = model.transformer(input_ids=flat_ids, attention_mask=flat_mask).last_hidden_state
    extract = states[torch.arange(len(flat_ids)), flat_mask.sum(-1) - 1]
    torch.testing.assert_close(output.logits, model.classifier(extract).view(3, n_choices))


def test_outputs_without_labels_have_no_loss():
    model = make_head(GPT1ForSequenceClassification)
    output = model(**classification_batch(model.config))
    assert output.loss is None
    assert output.logits.shape == (3, 2)


# ---------------------------------------------------------------------------------------------------------------
# Extract-token pooling
# ---------------------------------------------------------------------------------------------------------------


def test_pooling_reads_the_extract_state_of_each_right_padded_sequence():
    model = make_head(GPT1ForSequenceClassification, num_labels=3)
    batch = classification_batch(model.config, lengths=(2, 11, 6))
    logits = model(**batch).logits
    for row, (ids, mask) in enumerate(zip(batch["input_ids"], batch["attention_mask"])):
        real = ids[mask.bool()]
        assert real[-1] == model.config.extract_token_id
        # The same sequence alone, unpadded, through the backbone: its last state is the extract state.
        state = model.transformer(input_ids=real[None]).last_hidden_state[0, -1]
        torch.testing.assert_close(logits[row], model.classifier(state))


def test_pooling_uses_the_first_of_two_extract_tokens():
    model = make_head(GPT1ForSequenceClassification, num_labels=3)
    config = model.config
    start, extract = config.start_token_id, config.extract_token_id
    ids = torch.tensor([[start, 5, 6, extract, 7, 8, extract]])
    logits = model(input_ids=ids).logits[0]
    states = model.transformer(input_ids=ids).last_hidden_state[0]
    torch.testing.assert_close(logits, model.classifier(states[3]))
    assert not torch.allclose(logits, model.classifier(states[6]))


def test_pooling_matches_the_pretrained_lm_backbone(tmp_path):
    """The head reads the hidden state that the LM it was loaded from computes at the extract token."""
    torch.manual_seed(0)
    lm = GPT1LMHeadModel(tiny_config()).eval()
    lm.save_pretrained(tmp_path)
    model = GPT1ForSequenceClassification.from_pretrained(tmp_path, num_labels=3).eval()
    batch = classification_batch(model.config, lengths=(4, 8))
    logits = model(**batch).logits
    hidden = lm(**batch, output_hidden_states=True).hidden_states[-1]
    extract_positions = batch["attention_mask"].sum(-1) - 1
    torch.testing.assert_close(logits, model.classifier(hidden[torch.arange(2), extract_positions]))


# ---------------------------------------------------------------------------------------------------------------
# Similarity and multiple choice specifics
# ---------------------------------------------------------------------------------------------------------------


def test_similarity_does_not_depend_on_the_order_of_the_pair():
    model = make_head(GPT1ForSimilarity, num_labels=1)
    config = model.config
    special = SpecialTokenIds.from_config(config)
    a, b = tokens(3, seed=1), tokens(7, seed=2)
    forward = collate(config, [transforms.similarity(a, b, special, config.n_positions)])
    backward = collate(config, [transforms.similarity(b, a, special, config.n_positions)])
    assert not torch.equal(forward["input_ids"], backward["input_ids"])
    torch.testing.assert_close(model(**forward).logits, model(**backward).logits)
    # Swapping the two orderings inside the batch gives the same prediction too.
    swapped = {key: value.flip(1) for key, value in forward.items()}
    torch.testing.assert_close(model(**forward).logits, model(**swapped).logits)


def test_sequence_classification_of_pairs_equals_similarity():
    similarity = make_head(GPT1ForSimilarity, num_labels=3)
    classifier = GPT1ForSequenceClassification(similarity.config).eval()
    classifier.load_state_dict(similarity.state_dict())
    batch = similarity_batch(similarity.config, labels=[2, 0])
    expected, got = similarity(**batch), classifier(**batch)
    torch.testing.assert_close(got.logits, expected.logits)
    torch.testing.assert_close(got.loss, expected.loss)


def test_multiple_choice_dropout_shares_one_mask_across_the_choices():
    # Only the classifier dropout is active, so the features before it are those of eval mode.
    model = make_head(GPT1ForMultipleChoice, classifier_dropout=0.5, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    batch = choice_batch(model.config, n_choices=4, batch_size=3)
    seen = []
    model.classifier.register_forward_hook(lambda module, args, output: seen.append(args[0]))
    model(**batch)
    clean = seen.pop()
    model.train()
    torch.manual_seed(1)
    model(**batch)
    dropped = seen.pop()

    keep = dropped != 0
    assert 0 < keep.float().mean() < 1
    # One mask per example and feature: identical across the choices of an example, different between examples.
    assert (keep == keep[:, :1]).all()
    assert not torch.equal(keep[0, 0], keep[1, 0])
    torch.testing.assert_close(dropped, clean * keep / 0.5)


# ---------------------------------------------------------------------------------------------------------------
# Loading from pre-trained checkpoints
# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """name -> (folder, decoder weights) of a saved LM head model and a saved bare decoder, with different weights."""
    saved = {}
    for name, model_class, seed in (("lm", GPT1LMHeadModel, 0), ("base", GPT1Model, 1)):
        torch.manual_seed(seed)
        model = model_class(tiny_config())
        folder = tmp_path_factory.mktemp(name)
        model.save_pretrained(folder)
        saved[name] = folder, model.base_model.state_dict()
    return saved


def check_backbone_loaded(model, backbone_state):
    loaded = model.transformer.state_dict()
    assert loaded.keys() == backbone_state.keys()
    for key, value in backbone_state.items():
        assert torch.equal(loaded[key], value), key


@pytest.mark.parametrize("source", ["lm", "base"])
@pytest.mark.parametrize("head_class", HEADS)
def test_head_loads_a_pretrained_backbone(pretrained, source, head_class):
    folder, backbone = pretrained[source]
    model, info = head_class.from_pretrained(folder, output_loading_info=True)
    assert type(model) is head_class
    check_backbone_loaded(model, backbone)
    assert set(info["missing_keys"]) == {"classifier.weight", "classifier.bias"}
    assert not info["unexpected_keys"] and not info["mismatched_keys"]


@pytest.mark.parametrize("source", ["lm", "base"])
@pytest.mark.parametrize(
    "auto_class, head_class, num_labels",
    [
        (AutoModelForSequenceClassification, GPT1ForSequenceClassification, 5),
        (AutoModelForMultipleChoice, GPT1ForMultipleChoice, 2),
    ],
)
def test_auto_classes_build_heads_on_pretrained_backbones(pretrained, source, auto_class, head_class, num_labels):
    folder, backbone = pretrained[source]
    model = auto_class.from_pretrained(folder, num_labels=num_labels)
    assert type(model) is head_class
    check_backbone_loaded(model, backbone)
    if head_class is GPT1ForSequenceClassification:
        assert model.classifier.out_features == num_labels


# ---------------------------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------------------------


def test_sequence_without_extract_token_is_rejected():
    model = make_head(GPT1ForSequenceClassification)
    batch = classification_batch(model.config, lengths=(3, 5))
    batch["input_ids"][1, batch["attention_mask"][1].sum() - 1] = 7  # overwrite the extract token
    with pytest.raises(ValueError, match=r"sequence\(s\) \[1\].*no extract token"):
        model(**batch)


@pytest.mark.parametrize("label", [2, -1])
def test_class_labels_out_of_range_are_rejected(label):
    model = make_head(GPT1ForSequenceClassification, num_labels=2)
    with pytest.raises(ValueError, match="out of range"):
        model(**classification_batch(model.config, labels=[0, label, 1]))


def test_answer_index_out_of_range_is_rejected():
    model = make_head(GPT1ForMultipleChoice)
    with pytest.raises(ValueError, match="out of range"):
        model(**choice_batch(model.config, n_choices=2, labels=[0, 2, 1]))


def test_label_count_must_match_the_batch():
    model = make_head(GPT1ForSequenceClassification)
    batch = classification_batch(model.config)
    with pytest.raises(ValueError, match="labels"):
        model(**batch, labels=torch.tensor([0, 1]))


def test_multiple_choice_rejects_two_dimensional_input():
    model = make_head(GPT1ForMultipleChoice)
    batch = classification_batch(model.config)
    with pytest.raises(ValueError, match=r"\[batch, n_sequences, length\]"):
        model(**batch)


def test_similarity_needs_exactly_two_orderings():
    model = make_head(GPT1ForSimilarity)
    batch = choice_batch(model.config, n_choices=3)
    with pytest.raises(ValueError, match=r"\[batch, 2, length\]"):
        model(**batch)
    with pytest.raises(ValueError, match=r"\[batch, 2, length\]"):
        model(**classification_batch(model.config))


def test_four_dimensional_input_is_rejected():
    model = make_head(GPT1ForSequenceClassification)
    ids = choice_batch(model.config, n_choices=2)["input_ids"]
    with pytest.raises(ValueError, match="expects input_ids"):
        model(input_ids=ids[None])


@pytest.mark.parametrize(
    "head_class, make_batch",
    [
        (GPT1ForSequenceClassification, classification_batch),
        (GPT1ForSimilarity, similarity_batch),
        (GPT1ForMultipleChoice, lambda config: choice_batch(config, n_choices=2)),
    ],
)
def test_attention_mask_shape_must_match_input_ids(head_class, make_batch):
    model = make_head(head_class)
    batch = make_batch(model.config)
    batch["attention_mask"] = batch["attention_mask"][..., :-1]
    with pytest.raises(ValueError, match="attention_mask has shape"):
        model(**batch)


def test_missing_input_ids_are_rejected():
    model = make_head(GPT1ForSequenceClassification)
    with pytest.raises(ValueError, match="needs input_ids"):
        model(inputs_embeds=torch.zeros(1, 3, model.config.n_embd))

import pytest
import torch
from datasets import Dataset

from modeling_gpt1 import GPT1Config
from modeling_gpt1.collators import GPT1DataCollator
from modeling_gpt1.modeling_gpt1 import IGNORE_INDEX


PAD = 0


def seq(n, offset=10):
    return list(range(offset, offset + n))


def check_padding(batch, sequences):
    """Each row holds its sequence then padding; the mask and LM labels mark the same positions."""
    ids, mask, lm = batch["input_ids"], batch["attention_mask"], batch["lm_labels"]
    assert ids.shape == mask.shape == lm.shape
    for row, sequence in zip(ids.reshape(-1, ids.shape[-1]), sequences):
        n = len(sequence)
        assert row[:n].tolist() == sequence
        assert (row[n:] == PAD).all()
    flat_mask = mask.reshape(-1, ids.shape[-1])
    assert flat_mask.sum(-1).tolist() == [len(sequence) for sequence in sequences]
    assert (lm[mask == 0] == IGNORE_INDEX).all()
    assert torch.equal(lm[mask == 1], ids[mask == 1])


def test_pads_sequences_of_very_different_lengths():
    sequences = [seq(3), seq(40), seq(1)]
    collate = GPT1DataCollator(pad_token_id=PAD)
    batch = collate([{"input_ids": s, "labels": i} for i, s in enumerate(sequences)])
    assert batch["input_ids"].shape == (3, 40)
    assert batch["input_ids"].dtype == torch.long
    check_padding(batch, sequences)
    assert batch["labels"].tolist() == [0, 1, 2]
    assert batch["labels"].dtype == torch.long


def test_padding_uses_the_pad_id():
    batch = GPT1DataCollator(pad_token_id=7)([{"input_ids": [1, 2, 3]}, {"input_ids": [4]}])
    assert batch["input_ids"].tolist() == [[1, 2, 3], [4, 7, 7]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["lm_labels"].tolist() == [[1, 2, 3], [4, -100, -100]]


def test_similarity_batch_has_two_orderings():
    features = [
        {"input_ids": [seq(4), seq(4, offset=20)], "labels": 3.5},
        {"input_ids": [seq(9), seq(9, offset=20)], "labels": 1.0},
    ]
    batch = GPT1DataCollator(pad_token_id=PAD)(features)
    assert batch["input_ids"].shape == (2, 2, 9)
    check_padding(batch, [s for f in features for s in f["input_ids"]])
    assert batch["labels"].dtype == torch.float32
    assert batch["labels"].tolist() == [3.5, 1.0]


def test_multiple_choice_batch_shape_and_per_choice_padding():
    features = [
        {"input_ids": [seq(5), seq(2), seq(7), seq(3)], "label": 2},
        {"input_ids": [seq(12), seq(4), seq(4), seq(6)], "label": 0},
    ]
    batch = GPT1DataCollator(pad_token_id=PAD)(features)
    assert batch["input_ids"].shape == (2, 4, 12)
    check_padding(batch, [s for f in features for s in f["input_ids"]])
    assert batch["labels"].tolist() == [2, 0]  # "label" comes back as "labels"


def test_pad_to_multiple_of():
    collate = GPT1DataCollator(pad_token_id=PAD, pad_to_multiple_of=8)
    sequences = [seq(3), seq(17)]
    batch = collate([{"input_ids": s} for s in sequences])
    assert batch["input_ids"].shape == (2, 24)
    check_padding(batch, sequences)
    # Exact multiples stay as they are.
    assert collate([{"input_ids": seq(16)}])["input_ids"].shape == (1, 16)


def test_padding_never_goes_past_max_length():
    collate = GPT1DataCollator(pad_token_id=PAD, pad_to_multiple_of=8, max_length=20)
    assert collate([{"input_ids": seq(18)}])["input_ids"].shape == (1, 20)


def test_sequences_longer_than_max_length_are_an_error():
    collate = GPT1DataCollator(pad_token_id=PAD, max_length=10)
    with pytest.raises(ValueError, match="longer than max_length=10"):
        collate([{"input_ids": seq(4)}, {"input_ids": seq(11)}])
    with pytest.raises(ValueError, match="longer than max_length=10"):
        collate([{"input_ids": [seq(4), seq(11)]}])


def test_ragged_multiple_choice_batch_is_an_error():
    collate = GPT1DataCollator(pad_token_id=PAD)
    with pytest.raises(ValueError, match="same number of choices"):
        collate([{"input_ids": [seq(3), seq(3)]}, {"input_ids": [seq(3), seq(3), seq(3)]}])
    with pytest.raises(ValueError, match="mixes"):
        collate([{"input_ids": seq(3)}, {"input_ids": [seq(3), seq(3)]}])


def test_missing_input_ids_and_empty_batch_are_errors():
    collate = GPT1DataCollator(pad_token_id=PAD)
    with pytest.raises(ValueError, match="feature 1 has no input_ids"):
        collate([{"input_ids": seq(3)}, {"labels": 1}])
    with pytest.raises(ValueError, match="empty batch"):
        collate([])


@pytest.mark.parametrize("labelled", [[True, False], [False, True], [False, False, True], [True, True, False]])
def test_labels_missing_from_some_features_is_an_error_in_any_order(labelled):
    """A batch with labels on some features only never drops them silently, whichever feature comes first."""
    features = [{"input_ids": seq(3), **({"labels": 1} if has else {})} for has in labelled]
    without = [i for i, has in enumerate(labelled) if not has]
    with pytest.raises(ValueError, match=rf"features \{without}\ of the batch have no labels but others have them"):
        GPT1DataCollator(pad_token_id=PAD)(features)


def test_labels_none_counts_as_missing_and_label_names_must_agree():
    with pytest.raises(ValueError, match=r"features \[0\] of the batch have no labels"):
        GPT1DataCollator(pad_token_id=PAD)([{"input_ids": seq(3), "labels": None}, {"input_ids": seq(3), "labels": 1}])
    with pytest.raises(ValueError, match="mixes features with 'labels' and with 'label'"):
        GPT1DataCollator(pad_token_id=PAD)([{"input_ids": seq(3), "label": 0}, {"input_ids": seq(3), "labels": 1}])
    batch = GPT1DataCollator(pad_token_id=PAD)([{"input_ids": seq(3), "label": 0}, {"input_ids": seq(3), "label": 1}])
    assert batch["labels"].tolist() == [0, 1]


@pytest.mark.parametrize(
    "input_ids, shown",
    [
        (["the", "cat"], "str 'the'"),
        ("the cat", "str 't'"),
        ([[1, 2], ["a", "b"]], "str 'a'"),
        ([1.0, 2.0], "float 1.0"),
        ([[1, 2], 3], "mixes token ids with lists"),
    ],
)
def test_token_strings_instead_of_ids_are_an_error(input_ids, shown):
    with pytest.raises(TypeError, match=rf"feature 1: input_ids .*{shown}"):
        GPT1DataCollator(pad_token_id=PAD)([{"input_ids": [5, 6]}, {"input_ids": input_ids}])


def test_without_lm_labels_or_labels():
    batch = GPT1DataCollator(pad_token_id=PAD, return_lm_labels=False)([{"input_ids": seq(3)}])
    assert set(batch) == {"input_ids", "attention_mask"}


def test_bad_arguments():
    with pytest.raises(TypeError, match="pad_token_id"):
        GPT1DataCollator(pad_token_id=None)
    with pytest.raises(ValueError, match="pad_to_multiple_of"):
        GPT1DataCollator(pad_token_id=PAD, pad_to_multiple_of=0)


def test_from_config_limits_to_the_context_size():
    config = GPT1Config(vocab_size=100, n_positions=16, n_embd=32, n_layer=2, n_head=4)
    collate = GPT1DataCollator.from_config(config)
    assert (collate.pad_token_id, collate.max_length) == (config.pad_token_id, 16)
    with pytest.raises(ValueError, match="longer than max_length=16"):
        collate([{"input_ids": seq(17)}])


def test_from_tokenizer_needs_a_pad_token():
    class Tokenizer:
        pad_token_id = None

    with pytest.raises(ValueError, match="<pad>"):
        GPT1DataCollator.from_tokenizer(Tokenizer())
    Tokenizer.pad_token_id = 5
    assert GPT1DataCollator.from_tokenizer(Tokenizer(), pad_to_multiple_of=8).pad_token_id == 5


def test_collates_torch_formatted_dataset_rows():
    data = Dataset.from_dict(
        {
            "input_ids": [[seq(3), seq(5)], [seq(6), seq(2)]],
            "labels": [1, 0],
            "idx": [0, 1],
        }
    ).with_format("torch")
    batch = GPT1DataCollator(pad_token_id=PAD)([data[0], data[1]])
    assert batch["input_ids"].shape == (2, 2, 6)
    check_padding(batch, [seq(3), seq(5), seq(6), seq(2)])
    assert batch["labels"].tolist() == [1, 0]
    assert "idx" not in batch


def test_works_as_a_dataloader_collate_fn():
    data = Dataset.from_dict({"input_ids": [seq(n) for n in (2, 9, 4, 5)], "labels": [0, 1, 1, 0]})
    loader = torch.utils.data.DataLoader(data, batch_size=2, collate_fn=GPT1DataCollator(pad_token_id=PAD))
    shapes = [tuple(batch["input_ids"].shape) for batch in loader]
    assert shapes == [(2, 9), (2, 5)]

"""Transferring the embeddings and the first k pre-trained blocks, the rest freshly initialised (Figure 2, left)."""

import pytest
import torch

from modeling_gpt1 import GPT1Config, GPT1ForSequenceClassification, GPT1LMHeadModel, GPT1Model
from modeling_gpt1.transfer import load_with_transferred_layers


N_LAYER = 3
INIT_RANGE = 0.05  # not the default 0.02, so that the test sees the config's value being used


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A saved LM whose weights are far from any fresh init: N(1, 0.3) everywhere, biases and gains included."""
    torch.manual_seed(0)
    config = GPT1Config(
        vocab_size=60, n_positions=16, n_embd=64, n_layer=N_LAYER, n_head=4, initializer_range=INIT_RANGE
    )
    model = GPT1LMHeadModel(config)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(1.0, 0.3)
    path = tmp_path_factory.mktemp("pretrained")
    model.save_pretrained(path)
    return path, {key: value.clone() for key, value in model.transformer.state_dict().items()}


def assert_fresh_init(name: str, value: torch.Tensor):
    """The generic init: N(0, initializer_range) matrices, zero biases, unit LayerNorm gains."""
    if ".ln_" in name:
        expected = torch.ones_like(value) if name.endswith("weight") else torch.zeros_like(value)
        torch.testing.assert_close(value, expected, rtol=0, atol=0, msg=name)
    elif name.endswith("bias"):
        torch.testing.assert_close(value, torch.zeros_like(value), rtol=0, atol=0, msg=name)
    else:
        # At least 64 * 64 draws: the sample mean and std are within a few percent of the truth.
        assert abs(value.mean().item()) < 4 * INIT_RANGE / value.numel() ** 0.5, name
        assert abs(value.std().item() / INIT_RANGE - 1) < 0.1, name


@pytest.mark.parametrize("model_class", [GPT1LMHeadModel, GPT1Model, GPT1ForSequenceClassification])
@pytest.mark.parametrize("k", [0, 1, N_LAYER])
def test_first_k_blocks_are_transferred_and_the_rest_reinitialised(pretrained, model_class, k):
    path, source = pretrained
    torch.manual_seed(1)
    model = load_with_transferred_layers(model_class, path, k, num_labels=3)

    backbone = model.base_model
    assert isinstance(backbone, GPT1Model)
    for name, value in backbone.state_dict().items():
        layer = int(name.split(".")[1]) if name.startswith("h.") else None
        if layer is None or layer < k:  # embeddings and transferred blocks
            torch.testing.assert_close(value, source[name], rtol=0, atol=0, msg=name)
        else:
            assert not torch.equal(value, source[name]), name
            assert_fresh_init(name, value)
    if model_class is GPT1LMHeadModel:
        assert model.lm_head.weight is backbone.wte.weight


def test_transfer_passes_from_pretrained_arguments(pretrained):
    path, _ = pretrained
    model = load_with_transferred_layers(GPT1ForSequenceClassification, path, 2, num_labels=5, dtype=torch.float64)
    assert model.classifier.out_features == 5
    assert model.dtype == torch.float64


@pytest.mark.parametrize("k", [-1, N_LAYER + 1])
def test_out_of_range_k_is_rejected(pretrained, k):
    path, _ = pretrained
    with pytest.raises(ValueError, match=f"num_transferred_layers={k} is out of range.*n_layer={N_LAYER}"):
        load_with_transferred_layers(GPT1LMHeadModel, path, k)


@pytest.mark.parametrize("k", [1.0, True, "2"])
def test_non_integer_k_is_rejected(pretrained, k):
    path, _ = pretrained
    with pytest.raises(TypeError, match="num_transferred_layers must be an integer"):
        load_with_transferred_layers(GPT1LMHeadModel, path, k)

"""enable_cpu_decoding: few-row products split across threads, equal to the plain model and never stale."""

import pytest
import torch
from conftest import make_lm
from transformers.pytorch_utils import Conv1D

from modeling_gpt1 import cpu_decoding
from modeling_gpt1.cpu_decoding import (
    FEW_ROWS,
    OUT_IN_DTYPES,
    enable_cpu_decoding,
    few_row_product,
    threaded_linear,
    threaded_matmul,
)


# Tolerances of a comparison between two products of the same dtype that may accumulate in another order.
TOLERANCE = {
    torch.float32: dict(atol=1e-5, rtol=1e-5),
    torch.bfloat16: dict(atol=2e-2, rtol=2e-2),
    torch.float16: dict(atol=2e-3, rtol=2e-3),
}


@pytest.fixture
def two_threads():
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(previous)


def recording_bmm(monkeypatch):
    calls = []
    monkeypatch.setattr(torch, "bmm", lambda *args: calls.append(args) or torch.matmul(*args))
    return calls


@pytest.mark.parametrize("rows", [1, 3, FEW_ROWS])
@pytest.mark.parametrize("with_bias", [False, True])
def test_threaded_matmul_splits_few_row_products_and_equals_the_plain_product(
    two_threads, monkeypatch, rows, with_bias
):
    weight, bias, x = torch.randn(48, 20), torch.randn(20), torch.randn(rows, 1, 48)
    expected = x @ weight + (bias if with_bias else 0)
    calls = recording_bmm(monkeypatch)
    with torch.no_grad():
        output = threaded_matmul(x, weight, bias if with_bias else None)
    assert output.shape == (rows, 1, 20)
    torch.testing.assert_close(output, expected, atol=1e-5, rtol=1e-5)
    assert len(calls) == 1 and calls[0][1].shape == (2, 24, 20)  # one slab of the weight per thread


@pytest.mark.parametrize("rows", [1, 5])
def test_threaded_linear_splits_the_weight_rows_as_stored_and_equals_the_plain_product(two_threads, monkeypatch, rows):
    weight, x = torch.randn(30, 16), torch.randn(rows, 1, 16)
    calls = recording_bmm(monkeypatch)
    with torch.no_grad():
        output = threaded_linear(x, weight)
    torch.testing.assert_close(output, x @ weight.t(), atol=1e-5, rtol=1e-5)
    assert len(calls) == 1 and calls[0][1].shape == (2, 16, 15)  # two slabs of 15 output rows, no copy


def test_threaded_matmul_cuts_as_many_equal_slabs_as_threads_allow(monkeypatch):
    previous = torch.get_num_threads()
    torch.set_num_threads(4)
    try:
        calls = recording_bmm(monkeypatch)
        weight, x = torch.randn(6, 5), torch.randn(1, 6)
        with torch.no_grad():
            torch.testing.assert_close(threaded_matmul(x, weight), x @ weight)
        assert calls[0][1].shape == (2, 3, 5)  # 6 rows: 2 slabs of 3 (4 would not divide them)
    finally:
        torch.set_num_threads(previous)


@pytest.mark.parametrize("case", ["many rows", "autograd", "one thread", "indivisible input width"])
def test_threaded_matmul_takes_the_plain_product_outside_cpu_decoding(two_threads, monkeypatch, case):
    width = 47 if case == "indivisible input width" else 48
    rows = FEW_ROWS + 1 if case == "many rows" else 1
    weight, bias, x = torch.randn(width, 20), torch.randn(20), torch.randn(rows, width)
    if case == "one thread":
        torch.set_num_threads(1)
    monkeypatch.setattr(torch, "bmm", lambda *args: pytest.fail("split product outside a CPU decoding step"))
    with torch.set_grad_enabled(case == "autograd"):
        output = threaded_matmul(x, weight, bias)
    torch.testing.assert_close(output, torch.addmm(bias, x, weight))


def stored_in_out(weight: torch.Tensor) -> bool:
    """Whether a `[in, out]`-shaped weight is stored [in, out] in memory (False: stored [out, in])."""
    return weight.is_contiguous() and not weight.t().is_contiguous()


@pytest.mark.parametrize("layout", ["[in, out]", "[out, in]", "strided"])
@pytest.mark.parametrize("dtype", list(TOLERANCE), ids=str)
@pytest.mark.parametrize("rows", [1, 3])
def test_few_row_product_equals_the_plain_product_in_every_memory_layout(two_threads, layout, dtype, rows):
    """`x @ weight + bias` for a `[in, out]` weight stored either way, or neither (a strided slice: plain product),
    within a few roundings of the dtype of the exact result (a product of the wrong layout is off by ~100%)."""
    torch.manual_seed(rows)
    weight = torch.randn(48, 40 if layout == "strided" else 20).to(dtype)
    if layout == "[out, in]":
        weight = weight.t().contiguous().t()
    elif layout == "strided":
        weight = weight[:, ::2]
    bias, x = torch.randn(20).to(dtype), torch.randn(rows, 48).to(dtype)
    with torch.no_grad():
        output = few_row_product(x, weight, bias)
    exact = x.double() @ weight.double() + bias.double()
    rounding = 4 * torch.finfo(dtype).eps * (x.double().abs() @ weight.double().abs() + bias.double().abs())
    assert output.dtype == dtype and bool(((output.double() - exact).abs() <= rounding).all())


@pytest.mark.parametrize("dtype", list(TOLERANCE), ids=str)
def test_each_weight_is_laid_out_as_its_dtype_multiplies_fastest_and_keeps_shape_values_and_ties(dtype):
    """float32: the Conv1D weights stay [in, out] and the tied LM head becomes [in, out]; bfloat16/float16: the
    Conv1D weights become [out, in] and the LM head stays [out, in]. Same parameters, shapes and values."""
    plain, fast = make_lm().to(dtype), make_lm().to(dtype)
    parameters = dict(fast.named_parameters())
    enable_cpu_decoding(fast)
    reduced = dtype in OUT_IN_DTYPES
    for name, parameter in fast.named_parameters():
        assert parameter is parameters[name] and torch.equal(parameter, plain.get_parameter(name))
    conv_weights = [module.weight for module in fast.modules() if isinstance(module, Conv1D)]
    assert conv_weights and all(stored_in_out(weight) != reduced for weight in conv_weights)
    assert fast.lm_head.weight is fast.transformer.wte.weight
    assert stored_in_out(fast.lm_head.weight.t()) != reduced


@pytest.mark.parametrize("dtype", list(OUT_IN_DTYPES), ids=str)
def test_reduced_precision_decoding_step_splits_the_products_and_is_as_accurate_as_the_plain_model(
    two_threads, monkeypatch, input_ids, dtype
):
    """The cached step of an enabled bf16/fp16 model: split products over the [out, in] weights, and logits as close
    to the float32 model's as the plain model's of that dtype (mean error within 1.5x; a wrong product is ~100x off)."""
    reference = make_lm(vocab_size=100)
    plain = make_lm(vocab_size=100).to(dtype)
    fast = enable_cpu_decoding(make_lm(vocab_size=100).to(dtype))
    calls = recording_bmm(monkeypatch)
    with torch.no_grad():
        exact = reference(input_ids).logits[:, -1]
        expected = plain(input_ids).logits[:, -1]
        prefix = fast(input_ids[:, :-1], use_cache=True)
        calls.clear()
        step = fast(input_ids[:, -1:], cache=prefix.cache).logits[:, -1]
    assert len(calls) == 4 * plain.config.n_layer + 1  # the blocks' four projections and the LM head
    assert step.dtype == dtype
    plain_error = (expected.float() - exact).abs().mean()
    assert (step.float() - exact).abs().mean() <= 1.5 * plain_error


def test_the_model_file_splits_nothing_by_itself(two_threads, monkeypatch):
    """Without enable_cpu_decoding the model runs plain products only (what a trust_remote_code user runs)."""
    model = make_lm()
    monkeypatch.setattr(torch, "bmm", lambda *args: pytest.fail("split product in the plain model"))
    with torch.no_grad():
        prefix = model(torch.tensor([[1, 2, 3]]), use_cache=True)
        model(torch.tensor([[4]]), cache=prefix.cache)


def test_decoding_step_uses_the_threaded_products_and_matches_the_plain_model(two_threads, monkeypatch, input_ids):
    """The cached one-token step of the enabled model (split products) gives the plain model's logits."""
    plain, fast = make_lm(vocab_size=100), enable_cpu_decoding(make_lm(vocab_size=100))  # an even vocabulary
    long_ids = input_ids.repeat(1, 6)[:, : plain.config.n_positions]
    calls = recording_bmm(monkeypatch)
    with torch.no_grad():
        expected = plain(long_ids).logits[:, -1]
        assert calls == []
        prefix = fast(long_ids[:, :-1], use_cache=True)
        assert calls == []  # more than FEW_ROWS rows: plain products
        step = fast(long_ids[:, -1:], cache=prefix.cache).logits[:, -1]
    assert len(calls) == 4 * plain.config.n_layer + 1  # the blocks' four projections and the LM head
    torch.testing.assert_close(step, expected, atol=1e-5, rtol=1e-5)


def test_enabled_model_generates_the_plain_model_tokens(two_threads):
    plain, fast = make_lm(), enable_cpu_decoding(make_lm())
    prompt = torch.tensor([[5, 6, 7]])
    settings = dict(max_new_tokens=12, do_sample=False)
    assert torch.equal(plain.generate(prompt, **settings), fast.generate(prompt, **settings))


def infer(model):
    with torch.no_grad():
        model(torch.tensor([[1, 2, 3, 4]]))


def in_place_edits():
    """Each kind of weight edit that autograd's version counter does not see (or that reuses freed memory), with a
    no-grad inference right before it: anything cached from that inference would be stale afterwards."""

    def write_new_rows_through_data(model):
        model.resize_token_embeddings(model.config.vocab_size + 4)
        infer(model)
        model.transformer.wte.weight.data[-4:] = torch.randn(4, model.config.n_embd)

    def scale_through_data(model):
        infer(model)
        model.transformer.wte.weight.data.mul_(2.0)
        model.transformer.h[0].attn.c_attn.weight.data.add_(0.1)

    def assign_state_dicts_in_turn(model):
        for seed in (7, 8, 9, 10):
            infer(model)
            model.load_state_dict(make_lm(seed=seed, vocab_size=100).state_dict(), assign=True)

    def scale_in_place_without_grad(model):
        infer(model)
        with torch.no_grad():
            model.transformer.wte.weight.mul_(2.0)

    def replace_the_parameter(model):
        infer(model)
        model.transformer.wte.weight = torch.nn.Parameter(torch.randn_like(model.transformer.wte.weight))
        model.tie_weights()

    return [
        write_new_rows_through_data,
        scale_through_data,
        assign_state_dicts_in_turn,
        scale_in_place_without_grad,
        replace_the_parameter,
    ]


@pytest.mark.parametrize(
    "enabled, dtype",
    [(False, torch.float32), (True, torch.float32), (True, torch.bfloat16)],
    ids=["plain", "cpu_decoding", "cpu_decoding-bfloat16"],
)
@pytest.mark.parametrize("edit", in_place_edits(), ids=lambda edit: edit.__name__)
def test_after_an_in_place_weight_edit_the_no_grad_forward_equals_the_grad_forward(two_threads, edit, enabled, dtype):
    model = make_lm(vocab_size=100).to(dtype)
    if enabled:
        enable_cpu_decoding(model)
    edit(model)
    ids = torch.tensor([[1, 2, model.config.vocab_size - 1, 4]])
    with torch.no_grad():
        no_grad = model(ids[:, :3], use_cache=True)
        no_grad_step = model(ids[:, 3:], cache=no_grad.cache).logits
    with_grad = model(ids).logits
    torch.testing.assert_close(no_grad.logits, with_grad[:, :3], **TOLERANCE[dtype])
    torch.testing.assert_close(no_grad_step, with_grad[:, 3:], **TOLERANCE[dtype])


def test_no_second_copy_of_the_output_matrix_is_kept(two_threads):
    """Nothing besides the parameters holds a vocab x width matrix (it would go stale, and .to() would leave it)."""
    model = enable_cpu_decoding(make_lm())
    with torch.no_grad():
        model(torch.tensor([[1, 2, 3]]))
    tensors = [value for value in vars(model).values() if isinstance(value, (torch.Tensor, tuple))]
    assert tensors == [] and not hasattr(cpu_decoding, "_output_matrix")


def test_the_tied_output_layer_is_one_parameter_laid_out_in_out(tmp_path):
    """The LM head's weight is re-laid out [in, out] in place: still the embedding's parameter, same values; saving
    writes it as usual and keeps the layout; the saved folder loads into the plain model's logits."""
    plain = make_lm()
    fast = make_lm()
    embedding = fast.transformer.wte.weight
    enable_cpu_decoding(fast)
    assert fast.lm_head.weight is fast.transformer.wte.weight is embedding
    assert fast.lm_head.weight.t().is_contiguous() and torch.equal(fast.lm_head.weight, plain.lm_head.weight)
    fast.save_pretrained(tmp_path)
    assert fast.lm_head.weight.t().is_contiguous()
    reloaded = type(plain).from_pretrained(tmp_path).eval()
    ids = torch.tensor([[1, 2, 3]])
    with torch.no_grad():
        torch.testing.assert_close(reloaded(ids).logits, plain(ids).logits)
        torch.testing.assert_close(fast(ids).logits, plain(ids).logits, atol=1e-5, rtol=1e-5)


def test_a_bfloat16_model_saves_contiguously_keeps_its_layout_and_reloads_equal(tmp_path):
    plain, fast = make_lm().to(torch.bfloat16), enable_cpu_decoding(make_lm().to(torch.bfloat16))
    fast.save_pretrained(tmp_path)
    assert not stored_in_out(fast.transformer.h[0].mlp.c_fc.weight)  # still [out, in] after saving
    reloaded = type(plain).from_pretrained(tmp_path, dtype=torch.bfloat16).eval()
    for name, parameter in reloaded.named_parameters():
        assert parameter.is_contiguous() and torch.equal(parameter, plain.get_parameter(name))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize(
    "how", ["save_pretrained(state_dict=...)", "safetensors save_model", "a wrapper's state_dict"]
)
def test_every_way_of_saving_writes_the_re_laid_out_weights(tmp_path, dtype, how):
    """Not only `save_pretrained()`: a state dict taken first (Trainer's path for a model it wraps), safetensors'
    `save_model` and a parent module's `state_dict` all get contiguous tensors (they raised on the re-laid out ones),
    the tied pair still one tensor, and what they write loads into the plain model's values."""
    from safetensors.torch import load_file, load_model, save_file, save_model

    plain, fast = make_lm().to(dtype), enable_cpu_decoding(make_lm().to(dtype))
    relaid = [name for name, parameter in fast.named_parameters() if not parameter.is_contiguous()]
    assert relaid  # the case under test: some weight is laid out transposed
    if how == "save_pretrained(state_dict=...)":
        fast.save_pretrained(tmp_path, state_dict=fast.state_dict())
        loaded = type(plain).from_pretrained(tmp_path, dtype=dtype).state_dict()
    elif how == "safetensors save_model":
        save_model(fast, tmp_path / "model.safetensors")  # writes one of the tied pair's names
        fresh = make_lm(seed=1).to(dtype)
        load_model(fresh, tmp_path / "model.safetensors")
        loaded = fresh.state_dict()
    else:
        state_dict = torch.nn.ModuleDict({"inner": fast}).state_dict()
        tied = state_dict["inner.lm_head.weight"], state_dict["inner.transformer.wte.weight"]
        assert tied[0].is_contiguous() and tied[0].data_ptr() == tied[1].data_ptr()  # one tensor still
        save_file({key: value for key, value in state_dict.items() if key != "inner.lm_head.weight"}, tmp_path / "w")
        loaded = {key.removeprefix("inner."): value for key, value in load_file(tmp_path / "w").items()}
    for name, parameter in plain.named_parameters():
        assert torch.equal(loaded[name], parameter), name
    assert all(not parameter.is_contiguous() for name, parameter in fast.named_parameters() if name in relaid)


def test_enabling_again_after_a_dtype_change_lays_the_weights_out_for_the_new_dtype():
    """float32 -> bfloat16 -> float32, enabled each time: each weight ends in the layout of its current dtype, not
    in the one a previous dtype left (values and the tie unchanged)."""
    plain, model = make_lm(), enable_cpu_decoding(make_lm())
    for dtype in (torch.bfloat16, torch.float32):
        enable_cpu_decoding(model.to(dtype))
        reduced = dtype in OUT_IN_DTYPES
        assert all(stored_in_out(m.weight) != reduced for m in model.modules() if isinstance(m, Conv1D))
        assert stored_in_out(model.lm_head.weight.t()) != reduced
        assert model.lm_head.weight is model.transformer.wte.weight
    for name, parameter in model.named_parameters():
        torch.testing.assert_close(parameter, plain.get_parameter(name), atol=1e-2, rtol=1e-2)  # via bfloat16


def test_no_split_product_under_cpu_autocast(two_threads, monkeypatch):
    """Autocast would run the slabs' products in bfloat16 and round each partial sum: the plain product instead."""
    monkeypatch.setattr(torch, "bmm", lambda *args: pytest.fail("split product under autocast"))
    weight, x = torch.randn(48, 20), torch.randn(1, 48)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        output = threaded_matmul(x, weight)
    torch.testing.assert_close(output.float(), x @ weight, atol=0.1, rtol=0.02)

"""PEFT adapters work on GPT-1 as on Transformers' own models: LoRA on the blocks' `Conv1D` projections trains,
saves and reloads as an adapter, and merges back into a plain `GPT1LMHeadModel`."""

import pytest
import torch
from conftest import make_config, make_lm

from modeling_gpt1 import GPT1ForSequenceClassification, GPT1LMHeadModel


peft = pytest.importorskip("peft")


def lora_lm():
    config = peft.LoraConfig(
        r=4, lora_alpha=8, target_modules=["c_attn", "c_proj"], fan_in_fan_out=True, task_type="CAUSAL_LM"
    )
    return peft.get_peft_model(make_lm(), config)


def test_lora_trains_only_the_adapters_and_lowers_the_loss(input_ids):
    model = lora_lm()
    trainable = {name for name, parameter in model.named_parameters() if parameter.requires_grad}
    assert trainable and all("lora_" in name for name in trainable)
    frozen = model.get_base_model().transformer.wte.weight.clone()

    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model.train()
    losses = []
    for _ in range(8):
        loss = model(input_ids=input_ids, labels=input_ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    assert torch.equal(model.get_base_model().transformer.wte.weight, frozen)


def test_lora_adapter_round_trip_and_merge(input_ids, tmp_path):
    model = lora_lm()
    with torch.no_grad():  # move the adapters off their zero start, so that they change the output
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(std=0.1)
    model.eval()
    with torch.no_grad():
        expected = model(input_ids=input_ids).logits
        assert not torch.allclose(expected, make_lm()(input_ids).logits)
    model.save_pretrained(tmp_path)

    reloaded = peft.PeftModel.from_pretrained(make_lm(), tmp_path).eval()
    merged = reloaded.merge_and_unload()
    assert type(merged) is GPT1LMHeadModel
    with torch.no_grad():
        torch.testing.assert_close(merged(input_ids).logits, expected, atol=1e-5, rtol=1e-5)
        generated = merged.generate(input_ids[:1], max_new_tokens=3, do_sample=False, pad_token_id=0)
    assert generated.shape == (1, input_ids.shape[1] + 3)


def test_lora_sequence_classification_keeps_the_head_trainable():
    torch.manual_seed(0)
    head = GPT1ForSequenceClassification(make_config(num_labels=2))
    model = peft.get_peft_model(
        head, peft.LoraConfig(r=4, target_modules=["c_attn"], fan_in_fan_out=True, task_type="SEQ_CLS")
    )
    trainable = {name for name, parameter in model.named_parameters() if parameter.requires_grad}
    assert any("classifier" in name for name in trainable)
    assert not any("wte" in name for name in trainable)
    config = head.config
    input_ids = torch.tensor([[1, 5, 6, 7, config.extract_token_id], [1, 8, 9, config.extract_token_id, 0]])
    output = model(input_ids=input_ids, attention_mask=(input_ids != 0).long(), labels=torch.tensor([0, 1]))
    output.loss.backward()
    assert output.logits.shape == (2, 2)


@pytest.mark.parametrize("cpu_decoding", [False, True], ids=["plain", "enable_cpu_decoding"])
def test_merging_a_lora_adapter_on_the_embedding_after_inference_is_seen_by_generate(tmp_path, cpu_decoding):
    """LoRA on `wte` (the tied output layer too), one inference, then merge_and_unload: the merged model's no-grad
    logits and greedy tokens equal the same model saved and reloaded (nothing cached from before the merge)."""
    from modeling_gpt1.cpu_decoding import enable_cpu_decoding

    base = make_lm()
    if cpu_decoding:
        enable_cpu_decoding(base)
    prompt = torch.tensor([[5, 6, 7]])
    base.generate(prompt, max_new_tokens=2, do_sample=False)  # inferences before the adapter and the merge
    config = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["wte"], task_type="CAUSAL_LM")
    model = peft.get_peft_model(base, config)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_embedding_B" in name:
                parameter.normal_(std=1.0)
    with torch.no_grad():
        model(input_ids=prompt)
    merged = model.merge_and_unload().eval()
    merged.save_pretrained(tmp_path)
    reloaded = GPT1LMHeadModel.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        torch.testing.assert_close(merged(prompt).logits, reloaded(prompt).logits, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(merged(prompt).logits, merged(prompt).logits.detach(), atol=0, rtol=0)
    greedy = dict(max_new_tokens=8, do_sample=False)
    assert torch.equal(merged.generate(prompt, **greedy), reloaded.generate(prompt, **greedy))


def test_the_auxiliary_loss_parts_are_logged_with_lora_on_the_wrapper(tmp_path):
    """`AuxiliaryLossCallback` looked for the wrapper in the Trainer's model alone: under a PEFT model it logged no
    `task_loss` / `lm_loss` (training itself was right)."""
    from test_finetune_trainer import task_examples, tiny_config
    from transformers import Trainer

    from modeling_gpt1 import GPT1DataCollator, GPT1WithAuxiliaryLM, SpecialTokenIds, add_auxiliary_loss_logging
    from modeling_gpt1.training import finetuning_args

    config = tiny_config(2, 0.0)
    torch.manual_seed(0)
    wrapper = GPT1WithAuxiliaryLM(GPT1ForSequenceClassification(config))
    lora = peft.LoraConfig(r=4, target_modules=["c_attn"], fan_in_fan_out=True, modules_to_save=["classifier"])
    examples = task_examples("classification", SpecialTokenIds.from_config(config), n=8)
    args = finetuning_args(
        tmp_path, max_steps=2, logging_steps=1, per_device_train_batch_size=4, save_strategy="no", use_cpu=True,
        report_to=[], disable_tqdm=True,
    )  # fmt: skip
    trainer = Trainer(
        model=peft.get_peft_model(wrapper, lora),
        args=args,
        train_dataset=examples,
        data_collator=GPT1DataCollator.from_config(config),
    )
    add_auxiliary_loss_logging(trainer)
    trainer.train()
    logged = [entry for entry in trainer.state.log_history if "loss" in entry and "train_runtime" not in entry]
    assert len(logged) == 2 and all("task_loss" in entry and "lm_loss" in entry for entry in logged)

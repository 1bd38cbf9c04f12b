"""Worker processes of `benchmarks.run`: one implementation each (ours, openai-gpt, GPT-2), models built identically
from a seed, commands over a pipe, and the peak resident memory of each command.

Everything a worker needs is imported here at the top, so that the fork server that preloads this module pays the
imports once and every worker starts in a fraction of a second.
"""

import contextlib
import ctypes
import gc
import os
import resource
import sys
import time
import traceback

import torch
from transformers import (  # resolved here, before forking
    GPT2Config,
    GPT2LMHeadModel,
    OpenAIGPTForSequenceClassification,
    OpenAIGPTLMHeadModel,  # noqa: F401
)
from transformers.generation import StoppingCriteria, StoppingCriteriaList
from transformers.generation import utils as _generation_utils  # noqa: F401

from benchmarks.bench_generate import weight_bytes
from modeling_gpt1 import (
    GPT1Config,
    GPT1DataCollator,
    GPT1ForSequenceClassification,
    GPT1LMHeadModel,
    GPT1WithAuxiliaryLM,
)
from modeling_gpt1.convert import openai_gpt_config, openai_gpt_state_dict, to_openai_gpt
from modeling_gpt1.cpu_decoding import enable_cpu_decoding
from modeling_gpt1.cpu_training import BLOCK_CAUSAL


SHAPES = {
    "gpt1": {},  # GPT1Config's defaults: the 117M model of the paper (vocabulary with GPT's 4 special tokens)
    "small": dict(vocab_size=1000, n_positions=512, n_embd=128, n_layer=2, n_head=4),
}
OURS, OURS_CPU, OURS_BLOCK, OPENAI, GPT2 = "ours", "ours+cpu_decoding", "ours+block_causal", "openai-gpt", "gpt2"
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}

# ---------------------------------------------------------------------------------------------------------------
# Models (built identically in every worker from the seed)


def make_config(shape: str, **overrides):
    return GPT1Config(**{**SHAPES[shape], **overrides})


def build_model(kind: str, shape: str, seed: int, dtype: str = "float32"):
    """A model of `kind` with the seed's weights: ours and openai-gpt get the same weights, GPT-2 its own."""
    torch.manual_seed(seed)
    config = make_config(shape)
    if kind in (OURS, OURS_CPU, OURS_BLOCK):
        model = GPT1LMHeadModel(config)
    elif kind == OPENAI:
        model = to_openai_gpt(GPT1LMHeadModel(config))
    elif kind == GPT2:
        model = GPT2LMHeadModel(
            GPT2Config(
                vocab_size=config.vocab_size,
                n_positions=config.n_positions,
                n_embd=config.n_embd,
                n_layer=config.n_layer,
                n_head=config.n_head,
                bos_token_id=None,  # ours has none either: no early stop
                eos_token_id=None,
            )
        )
    elif kind == "ours-classifier":
        model = GPT1ForSequenceClassification(make_config(shape, num_labels=2))
    elif kind == "openai-gpt-classifier":
        model = to_openai_gpt_classifier(GPT1ForSequenceClassification(make_config(shape, num_labels=2)))
    else:
        raise ValueError(f"unknown model kind {kind!r}")
    model = model.to(DTYPES[dtype])
    if kind == OURS_CPU:
        enable_cpu_decoding(model)
    if kind == OURS_BLOCK:
        model.set_attn_implementation(BLOCK_CAUSAL)
    return model


def to_openai_gpt_classifier(model: GPT1ForSequenceClassification) -> OpenAIGPTForSequenceClassification:
    """Transformers' `openai-gpt` classifier with our classifier's decoder and weight (its `score` layer has no bias).
    It reads the last token that is not padding, which in GPT's `[start] text [extract]` layout is our extract token."""
    config = model.config
    reference = OpenAIGPTForSequenceClassification(
        openai_gpt_config(config, num_labels=config.num_labels, pad_token_id=config.pad_token_id)
    )
    state_dict = {
        name.replace("classifier.", "score."): value
        for name, value in openai_gpt_state_dict(model).items()
        if name != "classifier.bias"
    }
    reference.load_state_dict(state_dict, strict=True)
    return reference


def make_optimizer(parameters) -> torch.optim.Optimizer:
    """AdamW with the fused kernel: Trainer's default (`optim="adamw_torch_fused"`), ~6x faster on a CPU than the
    for-loop AdamW that `torch.optim.AdamW()` runs there by default, which would dominate short fine-tuning steps."""
    parameters = list(parameters)
    try:
        return torch.optim.AdamW(parameters, lr=1e-5, fused=True)
    except (RuntimeError, ValueError):  # a torch without the fused CPU kernel
        return torch.optim.AdamW(parameters, lr=1e-5, foreach=True)


def matmul_parameters(config) -> int:
    """Weights used in matrix products for one token: 12 d^2 per block (attention 4 d^2, MLP 8 d^2) and the tied
    LM head (vocab x d); position embeddings are looked up, biases and LayerNorms are not counted."""
    return 12 * config.n_layer * config.n_embd**2 + config.vocab_size * config.n_embd


def training_flops_per_token(config, seq: int) -> int:
    """6 N (forward + backward of the matrix products) + 12 n_layer n_embd seq for attention's q k^T and a v,
    counted in full as in PaLM's appendix B (causal masking would halve it)."""
    return 6 * matmul_parameters(config) + 12 * config.n_layer * config.n_embd * seq


# ---------------------------------------------------------------------------------------------------------------
# Worker processes: one per implementation, commands over a pipe, the peak resident memory of each command.

# Before each command a worker returns its freed memory to the system (for that command's peak), so the first step
# of a command would fault in every page of its activations and gradients afresh, several tenths of a second a
# GPT-1 step on this VM. A training or fine-tuning command therefore runs one untimed step first (its largest batch),
# and times the rest with the memory in place, as in a training loop.


def _release_freed_memory():
    """Return freed heap memory to the system (glibc's `malloc_trim`), so that a command's peak RSS does not carry
    what an earlier, larger command left in the allocator's free lists."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _reset_peak() -> bool:
    _release_freed_memory()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM (peak RSS) to the current RSS (Linux >= 4.0)
        return True
    except OSError:
        return False


def _status_kb(key: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _peak_rss_mb(reset_worked: bool) -> tuple[float, str]:
    peak = _status_kb("VmHWM") if reset_worked else None
    if peak is not None:
        return round(peak / 1024, 1), "command"
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux, bytes on macOS
    return round(maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024), 1), "process lifetime"


class _WorkerState:
    """What one worker holds: one implementation, one shape, in one dtype at a time."""

    def __init__(self, kind: str, shape: str, seed: int):
        self.kind, self.shape, self.seed = kind, shape, seed
        self.model = self.dtype = self.optimizer = self.auxiliary = None

    def _model(self, dtype: str):
        if self.dtype != dtype:
            self.model = self.optimizer = self.auxiliary = None  # free the previous dtype's copy first
            self.model = build_model(self.kind, self.shape, self.seed, dtype)
            self.dtype = dtype
        return self.model

    def hello(self):
        return {"rss_mb": round((_status_kb("VmRSS") or 0) / 1024, 1), "pid": os.getpid()}

    def train(self, dtype: str, batch: int, seq: int, steps: int):
        """`steps` language-model training steps (forward, backward, AdamW) on float32 weights, autocast to bf16 for
        `dtype="bfloat16"`."""
        model = self._model("float32").train()
        if self.optimizer is None:
            self.optimizer = make_optimizer(model.parameters())
        generator = torch.Generator().manual_seed(self.seed)
        ids = torch.randint(0, model.config.vocab_size - 4, (batch, seq), generator=generator)
        autocast = torch.autocast("cpu", dtype=torch.bfloat16) if dtype == "bfloat16" else contextlib.nullcontext()

        def step():
            with autocast:
                loss = model(input_ids=ids, labels=ids).loss
            loss.backward()
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            return loss

        step()  # untimed, to fault the step's memory in (see the note on worker processes above)
        start = time.perf_counter()
        for _ in range(steps):
            loss = step()
        seconds = time.perf_counter() - start
        return {"seconds": seconds, "tokens": batch * seq * steps, "loss": float(loss.detach())}

    def finetune(self, batches: list, pad_to: int | None, auxiliary: bool):
        """One AdamW step per batch of classification features (float32), with the plain head or the auxiliary-LM
        wrapper around the same head. Collation is done before the clock starts."""
        head = self._model("float32").train()
        if self.optimizer is None:
            self.optimizer = make_optimizer(head.parameters())
        if auxiliary and self.auxiliary is None:
            self.auxiliary = GPT1WithAuxiliaryLM(head)
        model = (self.auxiliary if auxiliary else head).train()
        collator = GPT1DataCollator.from_config(
            make_config(self.shape, num_labels=2), pad_to_multiple_of=pad_to, return_lm_labels=auxiliary
        )
        collated = [collator(features) for features in batches]
        if self.kind == "openai-gpt-classifier":  # no lm_labels there
            collated = [{key: batch[key] for key in ("input_ids", "attention_mask", "labels")} for batch in collated]

        def step(batch):
            loss = model(**batch).loss
            loss.backward()
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            return loss

        step(max(collated, key=lambda batch: batch["input_ids"].numel()))  # untimed: memory in (note above)
        start = time.perf_counter()
        for batch in collated:
            loss = step(batch)
        seconds = time.perf_counter() - start
        examples = sum(len(features) for features in batches)
        tokens = sum(batch["input_ids"].numel() for batch in collated)
        return {"seconds": seconds, "examples": examples, "padded_tokens": tokens, "loss": float(loss.detach())}

    def generate(self, dtype: str, batch: int, prompt: int, new_tokens: int, max_time: float):
        """Greedy `generate` of `new_tokens` after a random unpadded prompt, stopped early once `max_time` seconds
        have passed and at least two tokens were made (what a projection needs; `generate`'s own `max_time` would
        stop a slow prompt after its first token).

        `seconds` and `tokens` are the whole length's: measured when the run finished; for a run stopped early,
        projected from its own clock (`prompt_seconds`: the prompt's forward and the first token; `step_seconds`:
        the mean time of each later token), since the prompt's time dominates the few tokens a stopped run makes.
        For a model with a cache the steps slow a little as the text grows, so the projection is an upper bound of
        its rate; for one without (openai-gpt) much more so. `new_tokens` and `measured_seconds` are what ran."""
        model = self._model(dtype).eval()
        generator = torch.Generator().manual_seed(self.seed + 1)
        ids = torch.randint(0, model.config.vocab_size - 4, (batch, prompt), generator=generator)
        with torch.inference_mode():
            clock = StepClock(max_time)  # its clock starts here
            start = clock.start
            output = model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=new_tokens,
                do_sample=False,
                pad_token_id=0,
                stopping_criteria=StoppingCriteriaList([clock]),
            )
            seconds = time.perf_counter() - start
        generated = output.shape[1] - prompt
        prompt_seconds = clock.times[0] - start
        step_seconds = (clock.times[-1] - clock.times[0]) / (generated - 1) if generated > 1 else None
        projected = generated < new_tokens and step_seconds is not None
        return {
            "seconds": prompt_seconds + (new_tokens - 1) * step_seconds if projected else seconds,
            "tokens": batch * (new_tokens if projected else generated),
            "projected": projected,
            "measured_seconds": seconds,
            "new_tokens": generated,
            "prompt_seconds": prompt_seconds,
            "step_seconds": step_seconds,
            "output": output[:, prompt:].tolist(),
            "weight_bytes": weight_bytes(model),
            "attention": getattr(model.config, "_attn_implementation", None),
        }


class StepClock(StoppingCriteria):
    """The time at which each new token is chosen (`generate` asks its stopping criteria once a step); stops the run
    once `max_time` seconds have passed since `start` and two tokens or more were chosen."""

    def __init__(self, max_time: float):
        self.max_time = max_time
        self.start = time.perf_counter()
        self.times = []

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        self.times.append(time.perf_counter())
        stop = len(self.times) >= 2 and self.times[-1] - self.start > self.max_time
        return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)


def _worker_main(conn, kind: str, shape: str, seed: int, threads: int):
    torch.set_num_threads(threads)
    state = _WorkerState(kind, shape, seed)
    while True:
        try:
            command, payload = conn.recv()
        except EOFError:
            return
        if command == "close":
            conn.send(("ok", None))
            return
        try:
            reset = _reset_peak()
            result = getattr(state, command)(**payload)
            result["peak_rss_mb"], result["peak_scope"] = _peak_rss_mb(reset)
            conn.send(("ok", result))
        except Exception:
            conn.send(("error", traceback.format_exc()))


class WorkerError(RuntimeError):
    pass


class Worker:
    """A process holding one implementation; `call` runs a command there and returns its result."""

    def __init__(self, context, kind: str, shape: str, seed: int, threads: int):
        self.kind = kind
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_worker_main, args=(child, kind, shape, seed, threads), daemon=True)
        self.process.start()
        child.close()
        self.info = self.call("hello")

    def call(self, command: str, **payload) -> dict:
        try:
            self.conn.send((command, payload))
            status, value = self.conn.recv()
        except (EOFError, BrokenPipeError, ConnectionResetError) as error:
            self.process.join(timeout=5)
            raise WorkerError(
                f"the {self.kind} worker died (exit code {self.process.exitcode}; -9 is usually out of memory)"
            ) from error
        if status == "error":
            raise WorkerError(f"the {self.kind} worker failed:\n{value}")
        return value

    def close(self):
        with contextlib.suppress(Exception):
            self.conn.send(("close", {}))
            self.conn.recv()
        self.process.join(timeout=30)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


@contextlib.contextmanager
def workers(context, kinds, shape: str, settings):
    """Start one worker per kind (`settings` gives the seed and threads); all are closed on leaving."""
    started = {}
    try:
        for kind in kinds:
            started[kind] = Worker(context, kind, shape, settings.seed, settings.threads)
        yield started
    finally:
        for worker in started.values():
            worker.close()

"""Training, fine-tuning and generation speed of this package's GPT-1 against Transformers' own models, in one run.

    python -m benchmarks.run --record       # `make bench`: GPT-1 117M on this CPU, recorded in benchmarks/RESULTS.md
    python -m benchmarks.run --quick        # small shapes: a smoke run of a minute or two (no record by default)

Every row puts ours next to `transformers.OpenAIGPTLMHeadModel` given the same weights and inputs (generation also
next to Transformers' `GPT2LMHeadModel` of the same size with its own random weights: a speed comparison only), and
next to what the machine allows, measured in the same run: the FLOP/s of a large matrix product in the row's dtype
(training) and the bytes/s of a large read (generation). Each implementation runs in its own worker process, so that
the peak resident memory of each row is that implementation's own; the workers take turns, `--repeats` times, and
each keeps its best run. See benchmarks/README.md for what each row means.
"""

import argparse
import contextlib
import datetime
import json
import math
import multiprocessing
import os
import platform
import random
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch


if __package__ in (None, ""):  # run as a script (python benchmarks/run.py): make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.workers import (  # noqa: E402
    DTYPES,
    GPT2,
    OPENAI,
    OURS,
    OURS_BLOCK,
    OURS_CPU,
    WorkerError,
    make_config,
    matmul_parameters,
    training_flops_per_token,
    workers,
)


ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = ROOT / "benchmarks" / "results.json"
DEFAULT_RECORD = ROOT / "benchmarks" / "RESULTS.md"
NO_RECORD_YET = "No full run has been recorded yet.\n"
SHARED_DATA = ROOT.parent / "shared" / "data"
SST2_TRAIN = SHARED_DATA / "glue" / "SST-2" / "train.tsv"
GPT1_RELEASE = SHARED_DATA / "openai-gpt1-release"

# Goals of issue 14, all ratios measured in one run.
TRAINING_GOAL = 1.15  # ours / openai-gpt, training tokens/s, float32 and bfloat16
PADDING_GOAL = 3.0  # dynamic padding + length grouping / every batch padded to 512, fine-tuning examples/s
AUX_LM_GOAL = 0.10  # extra time of the auxiliary-LM wrapper over the plain head, at most
BANDWIDTH_GOAL = 0.75  # ours / read-bandwidth bound, generation at batch 1 in float32
GPT2_GOAL = 1.0  # ours / GPT-2 of the same size, every generation row


@dataclass
class Settings:
    quick: bool
    repeats: int
    threads: int
    seed: int = 0
    sections: tuple = ("training", "finetuning", "generation")
    dtypes: tuple = ("float32", "bfloat16")
    # Training: sequences of `train_seq` tokens, `train_batch` a step, `train_steps` steps a timed run.
    train_shapes: tuple = ("gpt1", "small")
    train_seq: int = 512
    train_batch: int = 1
    train_steps: int = 1
    max_step_seconds: float = 60.0  # a row whose projected step is longer is skipped (and says so)
    # Fine-tuning (float32): `finetune_batches` batches of `finetune_batch` examples a timed run.
    finetune_shape: str = "gpt1"
    finetune_batch: int = 4
    finetune_batches: int = 4
    lengths: str = "auto"  # "auto" (SST-2 where present, else synthetic), "sst2", "synthetic"
    # Generation: greedy, `new_tokens` after a `prompt`-token prompt, at each batch size; a run stops at `max_time`.
    generation_shape: str = "gpt1"
    prompt: int = 32
    new_tokens: int = 256
    generation_batches: tuple = (1, 8)
    max_time: float = 15.0
    read_megabytes: int = 256
    notes: list = field(default_factory=list)


def settings_for(args) -> Settings:
    if args.quick:
        settings = Settings(
            quick=True,
            repeats=args.repeats or 2,
            threads=args.threads or torch.get_num_threads(),
            train_shapes=("small",),
            train_steps=2,
            max_step_seconds=2.0,
            finetune_shape="small",
            finetune_batch=4,
            finetune_batches=2,
            generation_shape="small",
            prompt=8,
            new_tokens=24,
            max_time=3.0,
            read_megabytes=64,
        )
    else:
        settings = Settings(quick=False, repeats=args.repeats or 2, threads=args.threads or torch.get_num_threads())
    settings.seed = args.seed
    settings.lengths = args.lengths
    if args.sections:
        settings.sections = tuple(args.sections.split(","))
    if args.dtypes:
        settings.dtypes = tuple(args.dtypes.split(","))
    if args.max_step_seconds is not None:
        settings.max_step_seconds = args.max_step_seconds
    if args.max_time is not None:
        settings.max_time = args.max_time
    if args.new_tokens is not None:
        settings.new_tokens = args.new_tokens
    if args.prompt is not None:
        settings.prompt = args.prompt
    return settings


# ---------------------------------------------------------------------------------------------------------------
# What the machine allows, measured in the same run (the best of every measurement taken during the run).


def matmul_flops(dtype: str, target_seconds: float = 0.25, max_n: int = 4096) -> tuple[float, str]:
    """FLOP/s of the fastest large matrix product in `dtype`: `torch.mm` of two square matrices, and for bfloat16
    also `F.linear` under CPU autocast (what autocast runs for `nn.Linear`). The size doubles from 512 until one
    product takes `target_seconds` (or `max_n`)."""
    candidates = {"torch.mm": None}
    if dtype == "bfloat16":
        candidates["F.linear (autocast)"] = None
    best, best_kernel = 0.0, None
    for kernel in candidates:
        n = 512
        while True:
            a, b = torch.randn(n, n), torch.randn(n, n)
            if kernel == "torch.mm":
                a, b = a.to(DTYPES[dtype]), b.to(DTYPES[dtype])

                def run(a=a, b=b):
                    return torch.mm(a, b)
            else:

                def run(a=a, b=b):
                    with torch.autocast("cpu", dtype=torch.bfloat16):
                        return torch.nn.functional.linear(a, b)

            run()
            seconds = min(_timed(run) for _ in range(3))
            if seconds >= target_seconds or n >= max_n:
                break
            n *= 2
        rate = 2 * n**3 / seconds
        if rate > best:
            best, best_kernel = rate, f"{kernel} {n}x{n}"
    return best, best_kernel


def read_bandwidth(megabytes: int, repeats: int = 5) -> float:
    """Bytes per second of a large read: the sum of a `megabytes` float32 tensor (bytes read only), best run."""
    tensor = torch.empty(megabytes * 2**20 // 4, dtype=torch.float32).fill_(1.0)
    tensor.sum()
    return tensor.nbytes / min(_timed(tensor.sum) for _ in range(repeats))


def _timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def conv1d_flops(dtype: str, rows: int = 512, width: int = 768, repeats: int = 5) -> float:
    """FLOP/s of `torch.addmm` in `dtype` at a `Conv1D` shape ([rows, width] x [width, width]; rows of a 512-token
    training sequence): the product the blocks of GPT-1, openai-gpt and GPT-2 run (under CPU autocast too). Used only to foresee rows too slow to run:
    without native bf16 instructions it can be ~100x slower than float32."""
    x = torch.randn(rows, width).to(DTYPES[dtype])
    weight, bias = torch.randn(width, width).to(DTYPES[dtype]), torch.zeros(width).to(DTYPES[dtype])
    torch.addmm(bias, x, weight)
    return 2 * rows * width * width / min(_timed(lambda: torch.addmm(bias, x, weight)) for _ in range(repeats))


class Machine:
    """The best matrix-product rate per dtype and the best read bandwidth seen so far in this run (and the rate of
    the models' own `Conv1D` product, to foresee rows too slow to run)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.flops = {}
        self.kernels = {}
        self.conv1d = {}
        self.bandwidth = 0.0

    def measure(self, dtypes=None):
        for dtype in dtypes or self.settings.dtypes:
            rate, kernel = matmul_flops(dtype, *((0.05, 1024) if self.settings.quick else (0.1, 4096)))
            if rate > self.flops.get(dtype, 0.0):
                self.flops[dtype], self.kernels[dtype] = rate, kernel
            self.conv1d[dtype] = max(self.conv1d.get(dtype, 0.0), conv1d_flops(dtype))
        self.bandwidth = max(self.bandwidth, read_bandwidth(self.settings.read_megabytes))

    def projection_flops(self, dtype: str) -> float:
        """The rate a model's products can be expected to run at, for foreseeing their time (not for fractions)."""
        return min(self.flops[dtype], self.conv1d[dtype])

    def as_dict(self):
        return {
            "matmul_flops_per_s": {dtype: round(rate) for dtype, rate in self.flops.items()},
            "conv1d_addmm_flops_per_s": {dtype: round(rate) for dtype, rate in self.conv1d.items()},
            "matmul_kernels": self.kernels,
            "read_bandwidth_bytes_per_s": round(self.bandwidth),
            "read_megabytes": self.settings.read_megabytes,
        }


# ---------------------------------------------------------------------------------------------------------------
# The three sections


def _seconds(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.2g}"


def _keep_best(best: dict, kind: str, result: dict, rate_key: str, count_key: str):
    rate = result[count_key] / result["seconds"]
    entry = best.setdefault(kind, {"runs": 0, "peak_rss_mb": 0.0})
    entry["runs"] += 1
    entry["peak_rss_mb"] = max(entry["peak_rss_mb"], result["peak_rss_mb"])
    entry["peak_scope"] = result["peak_scope"]
    if rate > entry.get(rate_key, 0.0):
        entry.update({rate_key: rate, "seconds": result["seconds"], count_key: result[count_key]})
        for key in (
            "new_tokens",
            "output",
            "weight_bytes",
            "attention",
            "loss",
            "projected",
            "measured_seconds",
            "prompt_seconds",
            "step_seconds",
        ):
            if key in result:
                entry[key] = result[key]


def run_training(context, settings: Settings, machine: Machine, log) -> list[dict]:
    rows = []
    for shape in settings.train_shapes:
        config = make_config(shape)
        seq, batch = settings.train_seq, settings.train_batch
        flops_per_token = training_flops_per_token(config, seq)
        step_flops = flops_per_token * batch * seq
        # ours+block_causal: the same model with the opt-in CPU training attention (modeling_gpt1.cpu_training).
        with workers(context, (OURS, OURS_BLOCK, OPENAI), shape, settings) as pool:
            for dtype in settings.dtypes:
                row = {
                    "section": "training",
                    "name": f"training {shape} {dtype}",
                    "shape": shape,
                    "dtype": dtype,
                    "batch": batch,
                    "seq": seq,
                    "steps_per_run": settings.train_steps,
                    "matmul_parameters": matmul_parameters(config),
                    "flops_per_token": flops_per_token,
                    "results": {},
                    "skipped": None,
                }
                rows.append(row)
                log(f"training {shape} {dtype}: ", end="")
                projected = step_flops / machine.projection_flops(dtype)
                if projected <= settings.max_step_seconds:
                    # Short probe steps at two lengths (the first step creates AdamW's state and starts autograd):
                    # kernels much slower than the matmul peak (no native bf16) show up here. A step costs a fixed
                    # part (the optimizer over every parameter, the embedding gradient) plus a part growing with
                    # the length, so the time at `seq` is extrapolated from the two probes, not scaled from one.
                    short, long = min(32, seq), min(64, seq)
                    for worker in pool.values():
                        worker.call("train", dtype=dtype, batch=batch, seq=short, steps=1)
                        times = [
                            worker.call("train", dtype=dtype, batch=batch, seq=length, steps=1)["seconds"]
                            for length in (short, long)
                        ]
                        per_token = max(times[1] - times[0], 0.0) / max(long - short, 1)
                        projected = max(projected, times[0] + per_token * (seq - short))
                if projected > settings.max_step_seconds:
                    row["skipped"] = (
                        f"a step would take about {_seconds(projected)} s here (> --max_step_seconds "
                        f"{settings.max_step_seconds:g}): the models' {dtype} products (addmm) run at "
                        f"{machine.conv1d[dtype] / 1e9:.1f} GFLOP/s on this CPU"
                    )
                    log("skipped")
                    continue
                for kind in pool:  # warm-up: the first step allocates AdamW's state
                    pool[kind].call("train", dtype=dtype, batch=batch, seq=seq, steps=1)
                best = {}
                for _ in range(settings.repeats):
                    for kind, worker in pool.items():
                        result = worker.call("train", dtype=dtype, batch=batch, seq=seq, steps=settings.train_steps)
                        _keep_best(best, kind, result, "tokens_per_s", "tokens")
                        log(".", end="")
                for kind, entry in best.items():
                    entry["mfu"] = entry["tokens_per_s"] * flops_per_token / machine.flops[dtype]
                    entry["worker_baseline_rss_mb"] = pool[kind].info["rss_mb"]
                row["results"] = best
                row["ratio"] = best[OURS]["tokens_per_s"] / best[OPENAI]["tokens_per_s"]
                row["block_causal_ratio"] = best[OURS_BLOCK]["tokens_per_s"] / best[OPENAI]["tokens_per_s"]
                log(f" {row['ratio']:.2f}x")
    return rows


def sentence_lengths(settings: Settings, log) -> tuple[list[int], str]:
    """Token counts of SST-2's training sentences (GPT-1's released BPE), or a synthetic distribution like them."""
    want = settings.lengths
    available = SST2_TRAIN.is_file() and (GPT1_RELEASE / "encoder_bpe_40000.json").is_file()
    if want == "sst2" and not available:
        raise SystemExit(f"--lengths sst2 needs {SST2_TRAIN} and the released vocabulary in {GPT1_RELEASE}")
    if want in ("auto", "sst2") and available:
        from modeling_gpt1.tokenization_gpt1 import GPT1Tokenizer

        log(f"tokenising {SST2_TRAIN} ...")
        tokenizer = GPT1Tokenizer.from_original_files(
            GPT1_RELEASE / "encoder_bpe_40000.json", GPT1_RELEASE / "vocab_40000.bpe"
        )
        with open(SST2_TRAIN, encoding="utf-8") as f:
            sentences = [line.rstrip("\n").split("\t")[0] for line in f][1:]
        ids = tokenizer(sentences, add_special_tokens=False)["input_ids"]
        return [len(sequence) for sequence in ids], f"SST-2 train ({len(ids)} sentences, GPT-1 BPE)"
    # Log-normal with SST-2's median (8 tokens) and mean (10.6 tokens), 1 to 60 tokens.
    rng = random.Random(settings.seed)
    lengths = [min(60, max(1, round(rng.lognormvariate(math.log(8), 0.74)))) for _ in range(67349)]
    return lengths, "synthetic (log-normal, median 8 and mean ~10.6 tokens like SST-2; 67,349 sentences)"


def run_finetuning(context, settings: Settings, machine: Machine, log) -> list[dict]:
    from transformers.trainer_pt_utils import LengthGroupedSampler

    lengths, source = sentence_lengths(settings, log)
    config = make_config(settings.finetune_shape)
    # The classification input transformation: [start] text [extract], truncated to the context.
    lengths = [min(length + 2, config.n_positions) for length in lengths]
    size, count = settings.finetune_batch, settings.finetune_batches
    generator = torch.Generator().manual_seed(settings.seed)
    grouped_order = list(LengthGroupedSampler(size, lengths=lengths, generator=generator))
    random_order = torch.randperm(len(lengths), generator=generator).tolist()
    rng = random.Random(settings.seed)

    def pick(order):  # `count` of the epoch's batches, at random (the first grouped batch holds the longest one)
        batches = [order[i : i + size] for i in range(0, len(order) - size + 1, size)]
        return rng.sample(batches, count)

    def features(batch_indices):
        return [
            [
                {
                    "input_ids": [config.start_token_id]
                    + [rng.randrange(config.vocab_size - 4) for _ in range(lengths[i] - 2)]
                    + [config.extract_token_id],
                    "label": rng.randrange(2),
                }
                for i in indices
            ]
            for indices in batch_indices
        ]

    grouped, shuffled = features(pick(grouped_order)), features(pick(random_order))
    padded = shuffled[:1]  # padded batches all cost the same: one a run
    variants = {  # name: (batches, pad_to, auxiliary)
        "grouped": (grouped, None, False),
        "grouped+aux": (grouped, None, True),
        "random": (shuffled, None, False),
        "pad512": (padded, config.n_positions, False),
    }
    variants["openai-gpt grouped"] = (grouped, None, False)  # Transformers' openai-gpt classifier, same weights
    best = {}
    with workers(context, ("ours-classifier", "openai-gpt-classifier"), settings.finetune_shape, settings) as pool:
        log("fine-tuning: ", end="")

        def worker_for(name):
            return pool["openai-gpt-classifier" if name.startswith("openai-gpt") else "ours-classifier"]

        for name, (batches, pad_to, auxiliary) in variants.items():  # warm-up, AdamW's state included
            worker_for(name).call("finetune", batches=[batches[0][:1]], pad_to=pad_to, auxiliary=auxiliary)
        for _ in range(settings.repeats):
            for name, (batches, pad_to, auxiliary) in variants.items():
                worker = worker_for(name)
                result = worker.call("finetune", batches=batches, pad_to=pad_to, auxiliary=auxiliary)
                _keep_best(best, name, result, "examples_per_s", "examples")
                best[name]["padded_tokens"] = result["padded_tokens"]
                best[name]["worker_baseline_rss_mb"] = worker.info["rss_mb"]
                best[name]["batches"] = len(batches)
                log(".", end="")
    for name, (batches, _, _) in variants.items():
        real = sum(len(feature["input_ids"]) for batch_features in batches for feature in batch_features)
        best[name]["real_tokens"] = real
        best[name]["padding_fraction"] = 1 - real / best[name]["padded_tokens"]
    base = {"section": "finetuning", "shape": settings.finetune_shape, "dtype": "float32", "batch": size}
    padding_row = {
        **base,
        "name": "fine-tuning: dynamic padding + length grouping vs padding to 512",
        "lengths": source,
        "results": {key: best[key] for key in ("grouped", "random", "pad512")},
        "ratio": best["grouped"]["examples_per_s"] / best["pad512"]["examples_per_s"],
        "random_ratio": best["random"]["examples_per_s"] / best["pad512"]["examples_per_s"],
    }
    auxiliary_row = {
        **base,
        "name": "fine-tuning: auxiliary LM over the plain head",
        "lengths": source,
        "results": {"plain": best["grouped"], "auxiliary": best["grouped+aux"]},
        "ratio": best["grouped+aux"]["examples_per_s"] / best["grouped"]["examples_per_s"],
    }
    auxiliary_row["overhead"] = 1 / auxiliary_row["ratio"] - 1
    versus_row = {
        **base,
        "name": "fine-tuning: ours vs openai-gpt's classifier, grouped batches",
        "lengths": source,
        "results": {OURS: best["grouped"], OPENAI: best["openai-gpt grouped"]},
        "ratio": best["grouped"]["examples_per_s"] / best["openai-gpt grouped"]["examples_per_s"],
    }
    log(f" {padding_row['ratio']:.1f}x, auxiliary LM {auxiliary_row['overhead']:+.0%}, {versus_row['ratio']:.2f}x")
    return [padding_row, auxiliary_row, versus_row]


def foreseen_seconds(warm_up: dict, warm_prompt: int, prompt: int, cached: bool = True) -> float:
    """The time a generate run would take to reach its second token after a `prompt`-token prompt, foreseen from its
    warm-up's clock (a `warm_prompt`-token prompt): the prompt's forward (with the first token) scaled by the
    prompt's length, plus one step, scaled too for a model without a cache (each step re-reads the whole text)."""
    scale = prompt / warm_prompt
    step = warm_up["step_seconds"] if warm_up["step_seconds"] is not None else warm_up["prompt_seconds"]
    return warm_up["prompt_seconds"] * scale + step * (1 if cached else scale)


def _projection_note(row: dict, kinds: tuple) -> str:
    """Which of `kinds`' rates in a generation row were projected from a run stopped at `--max_time`."""
    projected = [
        f"{kind} projected from {row['results'][kind]['new_tokens']} tokens"
        for kind in kinds
        if row["results"][kind].get("projected")
    ]
    return "; ".join(projected)


def _rate_ratio(best: dict, kind: str, reference: str) -> float | None:
    """`kind`'s tokens/s over `reference`'s, or None where either was not run."""
    if kind not in best or reference not in best:
        return None
    return best[kind]["tokens_per_s"] / best[reference]["tokens_per_s"]


def run_generation(context, settings: Settings, machine: Machine, log) -> list[dict]:
    rows = []
    shape = settings.generation_shape
    with workers(context, (OURS, OURS_CPU, OPENAI, GPT2), shape, settings) as pool:
        for dtype in settings.dtypes:
            for batch in settings.generation_batches:
                log(f"generation {dtype} batch {batch}: ", end="")
                row = {
                    "section": "generation",
                    "name": f"generation {dtype} batch {batch}",
                    "shape": shape,
                    "dtype": dtype,
                    "batch": batch,
                    "prompt": settings.prompt,
                    "new_tokens": settings.new_tokens,
                    "max_time": settings.max_time,
                }
                common = dict(dtype=dtype, batch=batch, prompt=settings.prompt, max_time=settings.max_time)
                warm = {**common, "prompt": min(4, settings.prompt), "new_tokens": min(4, settings.new_tokens)}
                skipped, weight_bytes = {}, {}
                for kind, worker in pool.items():  # warm-up, short (slow bf16 kernels make a full prompt costly)
                    warm_up = worker.call("generate", **warm)
                    weight_bytes[kind] = warm_up["weight_bytes"]
                    foreseen = foreseen_seconds(warm_up, warm["prompt"], settings.prompt, cached=kind != OPENAI)
                    if foreseen > 2 * settings.max_time:
                        skipped[kind] = (
                            f"its prompt and first two tokens would take about {_seconds(foreseen)} s here (> 2 x "
                            f"--max_time {settings.max_time:g}; timed on its warm-up)"
                        )
                running = {kind: worker for kind, worker in pool.items() if kind not in skipped}
                if not running:
                    rows.append({**row, "results": {}, "skipped": "every implementation: " + skipped[OURS]})
                    log("skipped")
                    continue
                best = {}
                for _ in range(settings.repeats):
                    for kind, worker in running.items():
                        result = worker.call("generate", new_tokens=settings.new_tokens, **common)
                        _keep_best(best, kind, result, "tokens_per_s", "tokens")
                        log(".", end="")
                ours_bytes = weight_bytes[OURS]
                bound = batch * machine.bandwidth / ours_bytes
                for kind, entry in best.items():
                    entry["fraction_of_bound"] = entry["tokens_per_s"] / bound
                    entry["worker_baseline_rss_mb"] = pool[kind].info["rss_mb"]
                outputs = {kind: entry.pop("output") for kind, entry in best.items()}
                compared = {}
                for kind in (OURS_CPU, OPENAI):
                    if OURS in outputs and kind in outputs:
                        n = min(len(outputs[OURS][0]), len(outputs[kind][0]))
                        compared[kind] = {
                            "identical": all(a[:n] == b[:n] for a, b in zip(outputs[OURS], outputs[kind])),
                            "compared_tokens": n,
                        }
                rows.append(
                    {
                        **row,
                        "weight_bytes": ours_bytes,
                        "bound_tokens_per_s": bound,
                        "results": best,
                        "skipped_implementations": skipped,
                        "greedy_vs_ours": compared,
                        "ratio": _rate_ratio(best, OURS, OPENAI),
                        "ratio_gpt2": _rate_ratio(best, OURS, GPT2),
                        "cpu_decoding_ratio_gpt2": _rate_ratio(best, OURS_CPU, GPT2),
                        "skipped": None,
                    }
                )
                log(f" ours+cpu_decoding {_fmt_ratio(rows[-1]['cpu_decoding_ratio_gpt2'])} GPT-2")
    return rows


# ---------------------------------------------------------------------------------------------------------------
# Goals, table, records


def goals(rows: list[dict], settings: Settings) -> list[dict]:
    """Every goal of issue 14 with its measured value; rows not measured say so (met is None)."""
    out = []

    def add(name, value, goal, met, note=""):
        out.append({"goal": name, "value": value, "target": goal, "met": met, "note": note})

    for row in rows:
        if row["section"] == "training":
            for label, key in (("ours", "ratio"), ("ours with block_causal attention", "block_causal_ratio")):
                name = f"training {row['shape']} {row['dtype']}: {label} / openai-gpt tokens/s >= {TRAINING_GOAL}x"
                if row["skipped"]:
                    add(name, None, TRAINING_GOAL, None, "skipped: " + row["skipped"])
                else:
                    add(name, row[key], TRAINING_GOAL, row[key] >= TRAINING_GOAL)
        elif row["section"] == "finetuning" and "openai-gpt" in row["name"]:
            continue  # no goal of its own: shown in the table
        elif row["section"] == "finetuning" and "overhead" in row:
            add(
                f"fine-tuning: auxiliary LM costs <= {AUX_LM_GOAL:.0%} over the plain head",
                row["overhead"],
                AUX_LM_GOAL,
                row["overhead"] <= AUX_LM_GOAL,
            )
        elif row["section"] == "finetuning":
            add(
                f"fine-tuning: dynamic padding + length grouping >= {PADDING_GOAL:g}x padding to 512",
                row["ratio"],
                PADDING_GOAL,
                row["ratio"] >= PADDING_GOAL,
                row["lengths"],
            )
        elif row["section"] == "generation":
            for kind in (OURS, OURS_CPU):
                result = row["results"].get(kind)
                label = "ours" if kind == OURS else "ours with enable_cpu_decoding"
                why = row["skipped"] or row["skipped_implementations"].get(kind)
                if row["dtype"] == "float32" and row["batch"] == 1:
                    name = f"generation float32 batch 1: {label} >= {BANDWIDTH_GOAL:.0%} of the read-bandwidth bound"
                    if result is None:
                        add(name, None, BANDWIDTH_GOAL, None, f"skipped: {why}")
                    else:
                        fraction = result["fraction_of_bound"]
                        add(name, fraction, BANDWIDTH_GOAL, fraction >= BANDWIDTH_GOAL, _projection_note(row, (kind,)))
                name = f"generation {row['dtype']} batch {row['batch']}: {label} >= GPT-2's tokens/s"
                ratio = _rate_ratio(row["results"], kind, GPT2)
                if ratio is None:
                    why = why or f"gpt2: {row['skipped_implementations'][GPT2]}"
                    add(name, None, GPT2_GOAL, None, f"skipped: {why}")
                else:
                    add(name, ratio, GPT2_GOAL, ratio >= GPT2_GOAL, _projection_note(row, (kind, GPT2)))
    return out


def _fmt_rate(value, unit=""):
    return "-" if value is None else f"{value:,.1f}{unit}"


def _fmt_ratio(value):
    return "-" if value is None else f"{value:.2f}x"


def table(report: dict) -> list[str]:
    """The results as a Markdown table (also printed)."""
    lines = [
        "| row | implementation | rate | vs openai-gpt | vs machine | peak RSS (MB) | notes |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in report["rows"]:
        if row.get("skipped"):
            lines.append(f"| {row['name']} | - | - | - | - | - | skipped: {row['skipped']} |")
            continue
        if row["section"] == "training":
            reference = row["results"][OPENAI]["tokens_per_s"]
            for kind, result in row["results"].items():
                lines.append(
                    f"| {row['name']} (seq {row['seq']}, batch {row['batch']}) | {kind} | "
                    f"{_fmt_rate(result['tokens_per_s'])} tokens/s | {result['tokens_per_s'] / reference:.2f}x | "
                    f"{result['mfu']:.1%} of matmul peak | {result['peak_rss_mb']:,.0f} | |"
                )
        elif row["section"] == "finetuning" and "openai-gpt" in row["name"]:
            reference = row["results"][OPENAI]["examples_per_s"]
            for kind, result in row["results"].items():
                lines.append(
                    f"| {row['name']} (batch {row['batch']}) | {kind} | "
                    f"{_fmt_rate(result['examples_per_s'])} examples/s | {result['examples_per_s'] / reference:.2f}x "
                    f"| - | {result['peak_rss_mb']:,.0f} | |"
                )
        elif row["section"] == "finetuning" and "overhead" in row:
            for kind, result in row["results"].items():
                note = f"{row['overhead']:+.1%} time over the plain head" if kind == "auxiliary" else "grouped batches"
                lines.append(
                    f"| {row['name']} (batch {row['batch']}) | {kind} | "
                    f"{_fmt_rate(result['examples_per_s'])} examples/s | - | - | {result['peak_rss_mb']:,.0f} | "
                    f"{note} |"
                )
        elif row["section"] == "finetuning":
            reference = row["results"]["pad512"]["examples_per_s"]
            for kind, result in row["results"].items():
                lines.append(
                    f"| {row['name']} (batch {row['batch']}) | {kind} | "
                    f"{_fmt_rate(result['examples_per_s'])} examples/s | {result['examples_per_s'] / reference:.1f}x "
                    f"padding to 512 | - | {result['peak_rss_mb']:,.0f} | "
                    f"{result['padding_fraction']:.0%} padding |"
                )
        else:
            for kind, result in row["results"].items():
                notes = []
                if result["new_tokens"] < row["new_tokens"]:
                    notes.append(f"stopped at {row['max_time']:g} s after {result['new_tokens']} tokens")
                if result.get("projected"):
                    notes.append(
                        f"rate projected to {row['new_tokens']} tokens: prompt {result['prompt_seconds']:.1f} s, "
                        f"{result['step_seconds'] * 1e3:,.0f} ms a token"
                    )
                if kind in row["greedy_vs_ours"]:
                    check = row["greedy_vs_ours"][kind]
                    same = "same" if check["identical"] else "DIFFERENT"
                    notes.append(f"greedy {same} as ours ({check['compared_tokens']} tokens)")
                if kind == GPT2:
                    notes.append(
                        f"ours {_fmt_ratio(row['ratio_gpt2'])}, "
                        f"cpu_decoding {_fmt_ratio(row['cpu_decoding_ratio_gpt2'])}"
                    )
                versus = _fmt_ratio(_rate_ratio(row["results"], kind, OPENAI))
                lines.append(
                    f"| {row['name']} | {kind} | {_fmt_rate(result['tokens_per_s'])} tokens/s | {versus} | "
                    f"{result['fraction_of_bound']:.0%} of read bound | {result['peak_rss_mb']:,.0f} | "
                    f"{'; '.join(notes)} |"
                )
            for kind, why in row["skipped_implementations"].items():
                lines.append(f"| {row['name']} | {kind} | - | - | - | - | skipped: {why} |")
    return lines


def goal_lines(report: dict) -> list[str]:
    lines = []
    for goal in report["goals"]:
        status = {True: "MET", False: "NOT MET", None: "NOT MEASURED"}[goal["met"]]
        value = goal["value"]
        if value is None:
            shown = "-"
        elif "auxiliary" in goal["goal"] or "bound" in goal["goal"]:
            shown = f"{value:.1%}"
        else:
            shown = f"{value:.2f}x"
        note = f" ({goal['note']})" if goal["note"] else ""
        lines.append(f"- {status}: {goal['goal']}: {shown}{note}")
    return lines


# Environment variables that change how fast the same code runs on a CPU: glibc's allocator (`MALLOC_MMAP_MAX_=0`
# keeps the large blocks of a training step in the heap instead of mapping and faulting them in afresh each step,
# benchmarks/README.md), a preloaded allocator (jemalloc, tcmalloc) and the thread libraries' settings. A run records
# the ones set, so that a recorded table says what it was measured under.
SPEED_ENVIRONMENT = ("MALLOC_", "LD_PRELOAD", "OMP_", "KMP_", "MKL_", "ONEDNN_", "DNNL_")

# /proc/cpuinfo flags of native bfloat16 arithmetic (without them bf16 products run several-fold slower than float32).
BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def machine_info(settings: Settings) -> dict:
    import transformers

    cpu = platform.processor() or platform.machine()
    flags = set()
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        lines = f.read().splitlines()
        cpu = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), cpu)
        flags = set(next((line.split(":", 1)[1].split() for line in lines if line.startswith("flags")), []))
    memory = None
    with contextlib.suppress(OSError, ValueError, StopIteration), open("/proc/meminfo") as f:
        memory = round(int(next(line for line in f if line.startswith("MemTotal")).split()[1]) / 2**20, 1)
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "threads": settings.threads,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "bf16_instructions": sorted(flags.intersection(BF16_FLAGS)),
        "environment": {
            name: value for name, value in sorted(os.environ.items()) if name.startswith(SPEED_ENVIRONMENT)
        },
        "memory_gib": memory,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def environment_text(environment: dict) -> str:
    """The speed-relevant environment variables a run had, as a shell would set them (`none` for none)."""
    return " ".join(f"`{name}={value}`" for name, value in environment.items()) or "none of " + ", ".join(
        f"`{prefix}*`" if prefix.endswith("_") else f"`{prefix}`" for prefix in SPEED_ENVIRONMENT
    )


def record(report: dict, path: Path):
    info = report["machine"]
    text = [
        f"## {report['date']}: `{report['command']}`",
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores ({info['threads']} threads used, {info['cpu_capability']}, "
        f"bf16 instructions: {', '.join(info['bf16_instructions']) or 'none'}), {info['memory_gib']} GiB; "
        f"torch {info['torch']}, transformers {info['transformers']}, Python {info['python']}; "
        f"environment: {environment_text(info['environment'])}. Best of {report['settings']['repeats']} alternating "
        f"runs; {report['seconds']:.0f} s in all.",
        "",
        "Matrix-product peak: "
        + ", ".join(
            f"{dtype} {rate / 1e9:.1f} GFLOP/s ({report['machine_limits']['matmul_kernels'][dtype]})"
            for dtype, rate in report["machine_limits"]["matmul_flops_per_s"].items()
        )
        + f"; read bandwidth {report['machine_limits']['read_bandwidth_bytes_per_s'] / 1e9:.1f} GB/s.",
        "",
        *table(report),
        "",
        "Goals:",
        "",
        *goal_lines(report),
        "",
    ]
    existing = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    existing = existing.replace(NO_RECORD_YET, "").rstrip("\n") + "\n\n"
    path.write_text(existing + "\n".join(text) + "\n", encoding="utf-8")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small shapes only: a smoke run")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"JSON results (default {DEFAULT_OUTPUT})")
    parser.add_argument(
        "--record",
        type=Path,
        nargs="?",
        const=DEFAULT_RECORD,
        default=None,
        help=f"append the table, command, machine and date to this Markdown file (default {DEFAULT_RECORD})",
    )
    parser.add_argument("--repeats", type=int, default=None, help="alternating timed runs; the best counts (2)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--sections", default=None, help="comma-separated subset of training,finetuning,generation (default: all)"
    )
    parser.add_argument("--dtypes", default=None, help="comma-separated subset of float32,bfloat16 (default: both)")
    parser.add_argument(
        "--lengths",
        choices=("auto", "sst2", "synthetic"),
        default="auto",
        help="fine-tuning sentence lengths: SST-2's where the shared data is present (auto), or synthetic ones",
    )
    parser.add_argument(
        "--max_step_seconds", type=float, default=None, help="skip training rows whose step is projected longer"
    )
    parser.add_argument("--max_time", type=float, default=None, help="seconds at which a generate run is stopped")
    parser.add_argument("--new_tokens", type=int, default=None, help="generated tokens (256; 24 with --quick)")
    parser.add_argument("--prompt", type=int, default=None, help="prompt tokens (32; 8 with --quick)")
    args = parser.parse_args(argv)
    for name in ("repeats", "threads", "new_tokens", "prompt"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.dtypes and set(args.dtypes.split(",")) - set(DTYPES):
        parser.error(f"--dtypes: choose from {', '.join(DTYPES)}")
    if args.sections:
        unknown = set(args.sections.split(",")) - {"training", "finetuning", "generation"}
        if unknown:
            parser.error(f"--sections: unknown {', '.join(sorted(unknown))}")
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    settings = settings_for(args)
    torch.set_num_threads(settings.threads)
    started = time.perf_counter()

    def log(message, end="\n"):
        print(message, end=end, file=sys.stderr, flush=True)

    # Workers are forked from a server that has imported this module (and torch) but run no parallel kernel.
    context = multiprocessing.get_context("forkserver" if sys.platform != "win32" else "spawn")
    if sys.platform != "win32":
        context.set_forkserver_preload(["benchmarks.workers"])
    machine = Machine(settings)
    machine.measure()
    rows, failures = [], []
    sections = {"training": run_training, "finetuning": run_finetuning, "generation": run_generation}
    for name in settings.sections:
        section_start = time.perf_counter()
        try:
            rows += sections[name](context, settings, machine, log)
            log(f"{name}: {time.perf_counter() - section_start:.0f} s")
        except WorkerError as error:
            failures.append(f"{name}: {error}")
            log(f"\n{name} FAILED: {error}")
        machine.measure()  # again between sections: each limit is the best seen in the run
    # Fractions use the final (best) limits.
    for row in rows:
        if row["section"] == "training" and not row.get("skipped"):
            for entry in row["results"].values():
                entry["mfu"] = entry["tokens_per_s"] * row["flops_per_token"] / machine.flops[row["dtype"]]
        if row["section"] == "generation" and not row["skipped"]:
            row["bound_tokens_per_s"] = row["batch"] * machine.bandwidth / row["weight_bytes"]
            for entry in row["results"].values():
                entry["fraction_of_bound"] = entry["tokens_per_s"] / row["bound_tokens_per_s"]

    report = {
        "command": "python -m benchmarks.run" + "".join(" " + shlex.quote(a) for a in (argv or sys.argv[1:])),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_info(settings),
        "settings": {
            **{key: value for key, value in asdict(settings).items() if key != "notes"},
            "optimizer": "torch.optim.AdamW(lr=1e-5, fused=True): Trainer's default adamw_torch_fused",
        },
        "machine_limits": machine.as_dict(),
        "rows": rows,
        "failures": failures,
        "seconds": time.perf_counter() - started,
    }
    report["goals"] = goals(rows, settings)

    limits = report["machine_limits"]
    print(
        f"GPT-1 benchmarks ({'quick' if settings.quick else 'full'}), {settings.threads} threads, best of "
        f"{settings.repeats}; matmul peak "
        + ", ".join(f"{d} {r / 1e9:.1f} GFLOP/s" for d, r in limits["matmul_flops_per_s"].items())
        + f"; read bandwidth {limits['read_bandwidth_bytes_per_s'] / 1e9:.1f} GB/s"
        + f"; environment: {environment_text(report['machine']['environment'])}"
    )
    print("\n".join(table(report)))
    print("\nGoals:")
    print("\n".join(goal_lines(report)))
    for failure in failures:
        print(f"FAILED: {failure}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(f"\nJSON: {args.output}")
    if args.record:
        record(report, args.record)
        print(f"recorded in {args.record}")
    if failures:
        raise SystemExit(1)
    return report


if __name__ == "__main__":
    main()

"""GPT-1 training on one CUDA GPU (H100/H200 class): ours (sdpa attention, `torch.compile`, bf16 autocast, fused AdamW)
against Transformers' `openai-gpt` given the same weights (eager, as the library runs it, same autocast and
optimizer), at sequence 512. Prints a table and, as its last line, the results as JSON.

    python -m benchmarks.gpu                    # GPT-1 117M, batch 32 x 512 tokens, a few minutes with compilation
    python -m benchmarks.gpu --output gpu.json  # also write the JSON to a file

Model-FLOPs utilisation counts 6 N + 12 n_layer n_embd seq FLOPs a token (as `benchmarks.run`), divided by the GPU's
dense bf16 peak from its data sheet when the GPU is known (H100/H200 SXM: 989 TFLOP/s), and also by a large bf16
matrix product measured in the same run. Goals (issue 14): >= 45% MFU, >= 2x openai-gpt's tokens/s.
Without a CUDA GPU it prints one line saying so and exits with status 1.
"""

import argparse
import json
import sys
import time


MFU_GOAL = 0.45
SPEEDUP_GOAL = 2.0
# Dense bf16 tensor-core peaks (FLOP/s) from NVIDIA's data sheets (SXM parts); others use the measured matmul.
DATASHEET_BF16 = {"H200": 989e12, "H100 80GB HBM3": 989e12, "H100 SXM": 989e12, "H100 PCIe": 756e12, "A100": 312e12}
QUICK_SHAPE = dict(vocab_size=1000, n_positions=512, n_embd=64, n_layer=2, n_head=2)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=None, help="sequences a step (32; 2 with --quick)")
    parser.add_argument("--seq", type=int, default=512)
    parser.add_argument("--steps", type=int, default=None, help="steps a timed run (20; 2 with --quick)")
    parser.add_argument("--repeats", type=int, default=3, help="alternating timed runs; the best counts")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (compilation: 5; 1 --quick)")
    parser.add_argument("--no_compile", action="store_true", help="run ours without torch.compile")
    parser.add_argument("--quick", action="store_true", help="a tiny shape (for checking the script itself)")
    parser.add_argument("--device", default="cuda", help="cuda (default); cpu only to test this script")
    parser.add_argument("--output", default=None, help="also write the JSON here")
    args = parser.parse_args(argv)
    for name in ("batch", "seq", "steps", "repeats"):  # before the defaults: 0 is no request for one
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.warmup is not None and args.warmup < 0:
        parser.error("--warmup must be at least 0")
    args.batch = args.batch if args.batch is not None else (2 if args.quick else 32)
    args.steps = args.steps if args.steps is not None else (2 if args.quick else 20)
    args.warmup = args.warmup if args.warmup is not None else (1 if args.quick else 5)
    return args


def datasheet_peak(name: str) -> float | None:
    return next((peak for key, peak in DATASHEET_BF16.items() if key in name), None)


def main(argv=None) -> dict:
    args = parse_args(argv)
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(
            f"benchmarks/gpu.py needs a CUDA GPU and none is available here (torch {torch.__version__}, "
            f"torch.cuda.is_available() is False): nothing measured",
            file=sys.stderr,
        )
        raise SystemExit(1)

    from benchmarks.workers import matmul_parameters, training_flops_per_token
    from modeling_gpt1 import GPT1Config, GPT1LMHeadModel
    from modeling_gpt1.convert import to_openai_gpt

    device = torch.device(args.device)
    cuda = device.type == "cuda"
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    def sync():
        if cuda:
            torch.cuda.synchronize()

    config = GPT1Config(**(QUICK_SHAPE if args.quick else {}))
    config._attn_implementation = "sdpa"
    torch.manual_seed(0)
    ours = GPT1LMHeadModel(config)
    reference = to_openai_gpt(ours).to(device).train()  # a copy of the same weights, before any step
    ours = ours.to(device).train()
    name = torch.cuda.get_device_name(device) if cuda else "cpu"

    ids = torch.randint(0, config.vocab_size - 4, (args.batch, args.seq), device=device)

    # The two start from the same weights: their first losses (dropout off) agree to bf16 rounding.
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16):
        first_losses = [float(m.eval()(input_ids=ids, labels=ids).loss) for m in (ours, reference)]
    ours.train()
    reference.train()

    def trainer(model, compiled: bool):
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=True)
        forward = torch.compile(model) if compiled else model

        def step():
            with torch.autocast(device.type, dtype=torch.bfloat16):
                loss = forward(input_ids=ids, labels=ids).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            return loss

        return step

    steps = {"ours": trainer(ours, not args.no_compile), "openai-gpt": trainer(reference, False)}
    results = {}
    for kind, step in steps.items():
        started = time.perf_counter()
        for _ in range(args.warmup):
            step()
        sync()
        results[kind] = {"warmup_seconds": time.perf_counter() - started, "tokens_per_s": 0.0}
    for _ in range(args.repeats):
        for kind, step in steps.items():
            if cuda:
                torch.cuda.reset_peak_memory_stats(device)
            sync()
            started = time.perf_counter()
            for _ in range(args.steps):
                loss = step()
            sync()
            seconds = time.perf_counter() - started
            rate = args.batch * args.seq * args.steps / seconds
            entry = results[kind]
            entry["loss"] = float(loss.detach())
            if cuda:
                entry["peak_memory_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
            if rate > entry["tokens_per_s"]:
                entry.update(tokens_per_s=rate, seconds=seconds)

    # A large bf16 matrix product, measured after the runs (the GPU is warm).
    n, loops = (256, 2) if args.quick else (8192, 10)
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    best = float("inf")
    for _ in range(5):
        sync()
        started = time.perf_counter()
        for _ in range(loops):
            a @ b
        sync()
        best = min(best, (time.perf_counter() - started) / loops)
    matmul = 2 * n**3 / best
    datasheet = datasheet_peak(name) if cuda else None
    peak = datasheet or matmul

    flops_per_token = training_flops_per_token(config, args.seq)
    for entry in results.values():
        achieved = entry["tokens_per_s"] * flops_per_token
        entry["mfu"] = achieved / peak
        entry["fraction_of_measured_matmul"] = achieved / matmul
    speedup = results["ours"]["tokens_per_s"] / results["openai-gpt"]["tokens_per_s"]
    report = {
        "device": name,
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "shape": "quick" if args.quick else "GPT-1 117M",
        "matmul_parameters": matmul_parameters(config),
        "batch": args.batch,
        "seq": args.seq,
        "steps_per_run": args.steps,
        "repeats": args.repeats,
        "compiled": not args.no_compile,
        "attention": {"ours": ours.config._attn_implementation, "openai-gpt": "eager (its only implementation)"},
        "first_losses_eval": {"ours": first_losses[0], "openai-gpt": first_losses[1]},
        "flops_per_token": flops_per_token,
        "peak_flops_per_s": peak,
        "peak_source": "data sheet" if datasheet else "measured matmul",
        "measured_matmul_flops_per_s": matmul,
        "results": results,
        "speedup": speedup,
        "goals": {
            f"mfu >= {MFU_GOAL:.0%}": results["ours"]["mfu"] >= MFU_GOAL,
            f"speedup >= {SPEEDUP_GOAL:g}x": speedup >= SPEEDUP_GOAL,
        },
    }
    print(f"{name}, {report['shape']}, batch {args.batch} x {args.seq}, bf16 autocast, best of {args.repeats}")
    print(f"  peak {peak / 1e12:.0f} TFLOP/s ({report['peak_source']}); measured bf16 matmul {matmul / 1e12:.0f}")
    for kind, entry in results.items():
        print(
            f"  {kind:<11} {entry['tokens_per_s']:>12,.0f} tokens/s   MFU {entry['mfu']:6.1%}   "
            f"({entry['fraction_of_measured_matmul']:.1%} of the measured matmul)"
        )
    print(f"  speed-up {speedup:.2f}x (goal >= {SPEEDUP_GOAL:g}x); ours MFU goal >= {MFU_GOAL:.0%}: ", end="")
    print("met" if results["ours"]["mfu"] >= MFU_GOAL else "NOT met")
    text = json.dumps(report)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    print(text)
    return report


if __name__ == "__main__":
    main()

"""One LoRA SFT step in Facet (`train bench`) and in PyTorch + PEFT, side by side from one shell.

Run by hand (not in CI), from the repository root, after `make release`:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/compare_torch.py

Needs torch, transformers and peft. Each row runs Facet, then PyTorch, each in its own process
(so each peak RSS is its own), with the same threads, shapes (vocab 32000, rope theta 1e6), LoRA
r 16 / alpha 32 on the seven projections, batch 1, the loss on the last 3/4 of the tokens, AdamW,
one warm-up step, and the median step time. With `--repeats N` each row runs N times, Facet and
PyTorch alternating, and a last line gives the median of the N ratios: on a shared machine one
pair of runs can be 20% off either way. The rows (default: all three):

    small-fp32   preset small, seq 512: Facet float32 weights vs PyTorch eager float32
    small-bf16   preset small, seq 512: Facet bfloat16 weights multiplied in bfloat16 vs PyTorch
                 with the whole model in bfloat16
    7b-bf16      Mistral 7B shapes, seq 256, both in bfloat16 as above (~14 + ~19 GiB, one after
                 the other; 3 timed steps)

PyTorch "bfloat16" is the model created in bfloat16 (base weights and adapters; no float32
master copy, which would not fit 7B in 24 GiB), SDPA attention, no gradient checkpointing.
Facet chooses activation recomputation itself (`auto`) and reports what it chose.
"""
import argparse, json, os, resource, statistics, subprocess, sys, time

PRESETS = {
    "small": dict(hidden_size=1024, intermediate_size=3584, num_hidden_layers=8, num_attention_heads=16, num_key_value_heads=4),
    "7b-shape": dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8),
}
ROWS = {
    "small-fp32": dict(preset="small", seq=512, dtype="float32", steps=3),
    "small-bf16": dict(preset="small", seq=512, dtype="bfloat16", steps=3),
    "7b-bf16": dict(preset="7b-shape", seq=256, dtype="bfloat16", steps=3),
}


def torch_run(preset, seq, dtype, steps, threads):
    """The PyTorch side of one row, in this process; prints one JSON line."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import MistralConfig, MistralForCausalLM

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    torch_dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[dtype]
    config = MistralConfig(vocab_size=32000, rope_theta=1e6, max_position_embeddings=max(seq, 4096),
                           sliding_window=None, tie_word_embeddings=False, **PRESETS[preset])
    torch.set_default_dtype(torch_dtype)
    model = MistralForCausalLM(config)
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, task_type="CAUSAL_LM",
                                             target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]))
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4, weight_decay=0.0)
    ids = torch.randint(0, 32000, (1, seq))
    labels = ids.clone()
    labels[:, : seq // 4] = -100
    times = []
    for step in range(steps + 1):
        start = time.perf_counter()
        loss = model(input_ids=ids, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step > 0:
            times.append(time.perf_counter() - start)
    print(json.dumps({
        "step_s_median": statistics.median(times), "step_s": times, "torch": torch.__version__,
        "attention": model.base_model.model.config._attn_implementation,
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024,
    }))


def run_json(command):
    return json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", default=",".join(ROWS), help="comma-separated: " + ", ".join(ROWS))
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--train", default=".build/release/train")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each row, Facet and PyTorch alternating")
    parser.add_argument("--torch-only", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.torch_only:
        row = ROWS[args.torch_only]
        torch_run(row["preset"], row["seq"], row["dtype"], row["steps"], args.threads)
        return

    print(f"{args.threads} threads each; median step after a warm-up; Facet first, then PyTorch, one process each")
    print(f"{'row':<11} {'facet s':>8} {'torch s':>8} {'ratio':>6}  {'facet RSS':>9} {'torch RSS':>9}  facet settings")
    for name in args.rows.split(","):
        row = ROWS[name]
        ratios = []
        for _ in range(args.repeats):
            facet = run_json([args.train, "bench", "--preset", row["preset"], "--seq", str(row["seq"]), "--steps", str(row["steps"]),
                              "--dtype", row["dtype"], "--json"])
            torch = run_json([sys.executable, __file__, "--torch-only", name, "--threads", str(args.threads)])
            ratios.append(facet["step_s_median"] / torch["step_s_median"])
            settings = (f"{facet['dtype']} weights x {facet['compute_dtype']}, recompute {'on' if facet['activation_checkpointing'] else 'off'}, "
                        f"openblas {facet['openblas_core']}; torch {torch['torch']} {row['dtype']} {torch['attention']}")
            print(f"{name:<11} {facet['step_s_median']:>8.3f} {torch['step_s_median']:>8.3f} {ratios[-1]:>6.2f}  "
                  f"{facet['peak_rss_gib']:>7.2f} G {torch['peak_rss_gib']:>7.2f} G  {settings}", flush=True)
        if args.repeats > 1:
            print(f"{name:<11} {'':>8} {'':>8} {statistics.median(ratios):>6.2f}  median of {args.repeats} ratios "
                  f"({min(ratios):.2f}-{max(ratios):.2f})", flush=True)

if __name__ == "__main__":
    main()

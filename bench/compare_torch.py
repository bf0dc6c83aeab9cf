"""One LoRA SFT step in PyTorch eager fp32 + PEFT against `train bench`, from one shell.

Run by hand (not in CI), from the repository root, after `make release`:
    python bench/compare_torch.py --preset small --seq 512 --steps 3
Needs torch, transformers and peft (pip install torch transformers peft). Both sides use the
same threads (the machine's cores unless --threads), the same shapes (hidden, intermediate,
layers, heads, KV heads, vocab 32000, rope theta 1e6), LoRA r 16 / alpha 32 on the seven
projections, batch 1, the loss on the last 3/4 of the tokens, AdamW, one warm-up step, and
report the median step time. Facet runs first, PyTorch second, in the same shell.
"""
import argparse, json, os, statistics, subprocess, time

PRESETS = {
    "tiny": dict(hidden_size=256, intermediate_size=768, num_hidden_layers=4, num_attention_heads=8, num_key_value_heads=2),
    "small": dict(hidden_size=1024, intermediate_size=3584, num_hidden_layers=8, num_attention_heads=16, num_key_value_heads=4),
}


def torch_step_times(preset, seq, steps, threads):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import MistralConfig, MistralForCausalLM

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    config = MistralConfig(vocab_size=32000, rope_theta=1e6, max_position_embeddings=max(seq, 4096),
                           sliding_window=None, tie_word_embeddings=False, **PRESETS[preset])
    model = MistralForCausalLM(config).float()
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
    return times, torch.__version__, model.base_model.model.config._attn_implementation


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="small", choices=sorted(PRESETS))
    parser.add_argument("--seq", type=int, default=512)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--train", default=".build/release/train")
    args = parser.parse_args()

    facet = json.loads(subprocess.run(
        [args.train, "bench", "--preset", args.preset, "--seq", str(args.seq), "--steps", str(args.steps), "--json"],
        check=True, capture_output=True, text=True).stdout)
    times, version, attention = torch_step_times(args.preset, args.seq, args.steps, args.threads)
    torch_median = statistics.median(times)
    ratio = facet["step_s_median"] / torch_median
    print(f"preset {args.preset}, seq {args.seq}, {args.threads} threads, median of {args.steps} steps after a warm-up")
    print(f"facet   : {facet['step_s_median']:.3f} s/step  (openblas core {facet['openblas_core']}, peak RSS {facet['peak_rss_gib']:.2f} GiB)")
    print(f"pytorch : {torch_median:.3f} s/step  (torch {version}, eager fp32, attention {attention})")
    print(f"ratio facet/pytorch: {ratio:.2f}")


if __name__ == "__main__":
    main()

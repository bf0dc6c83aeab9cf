#!/usr/bin/env python3
"""Golden fixtures from PyTorch / transformers for the Swift tests (the test plan in docs/ARCHITECTURE.md).

Run from the repository root:

    python Tests/Fixtures/make_golden.py [GROUP...]   (every group without arguments)

Pinned versions this script was run with (CPU, float32), pip install:

    torch==2.15.0            (the wheel reports 2.15.0+cu132; run on CPU only)
    transformers==5.24.0
    safetensors==0.8.0
    numpy==2.3.5
    sentencepiece==0.2.3     (tiny_mistral group; reads assets/mistral/tokenizer.model)
    peft==0.21.2             (lora_training, preference groups)
    trl==1.16.0              (preference group: DPOTrainer._compute_loss, experimental ORPOTrainer)

Every file lands in Tests/Fixtures/golden/ as float32 safetensors. Each file's
`__metadata__` records the versions it was made with and the scalar parameters of
the case (eps, theta, sliding window, ...), all as strings. The outputs are
committed with this script; the Swift tests never need Python. The tiny_mistral group
also writes the model folder Tests/Fixtures/tiny-mistral/ (config.json, two bf16 shards
and their index, no tokenizer) and the JSONL data Tests/Fixtures/tiny-mistral-{eval,pairs}.jsonl. The preference group runs
TRL's own DPO/ORPO loss code (on instances made with object.__new__, holding only the attributes
the loss code reads) on fixed log-probs and on the tiny Mistral with a LoRA adapter.

Conventions:
- Every fixture group draws from its own `torch.Generator` with a fixed seed, so
  adding a group never changes the numbers of another.
- Gradients are of `loss = sum(out * R)` with a fixed random `R` stored as `R`,
  named `grad_<input>`, unless a fixture says otherwise (cross entropy uses its
  real mean loss).
- Integer data (positions, target ids) is stored as float32 tensors.
- Layouts follow the Swift side: attention and RoPE tensors are
  [batch, tokens, heads, headDim]; transformers' [batch, heads, tokens, headDim]
  is reached by transposing around the reference call.

To add a fixture group (model logits, LoRA, AdamW, DPO, ...), write one function
`make_<group>()` that calls `save(name, tensors, meta)` and add its name to GROUPS (or, in
golden_stages.py, to STAGE_GROUPS).
"""

import json
import os
import struct
import sys

import safetensors
import torch
import torch.nn.functional as F
import transformers
from safetensors.torch import load_file
from transformers import MistralConfig
from transformers.models.mistral.modeling_mistral import (
    MistralRMSNorm,
    MistralRotaryEmbedding,
    apply_rotary_pos_emb,
    repeat_kv,
)

PINNED = {"torch": "2.15.0", "transformers": "5.24.0", "safetensors": "0.8.0"}

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")

VERSIONS = {
    "torch_version": torch.__version__,
    "transformers_version": transformers.__version__,
    "safetensors_version": safetensors.__version__,
    "python_version": sys.version.split()[0],
}


def check_versions():
    found = {
        "torch": torch.__version__.split("+")[0],
        "transformers": transformers.__version__,
        "safetensors": safetensors.__version__,
    }
    for name, want in PINNED.items():
        if found[name] != want:
            print(f"warning: {name} {found[name]} differs from pinned {want}", file=sys.stderr)


def generator(seed):
    return torch.Generator().manual_seed(seed)


def randn(gen, *shape):
    return torch.randn(*shape, generator=gen, dtype=torch.float32)


def leaf(t):
    return t.detach().clone().requires_grad_(True)


def write_safetensors(path, tensors, metadata):
    """A byte-reproducible safetensors writer: tensors in the given order, header keys sorted
    (the library's own writer orders `__metadata__` by hash, so reruns would differ)."""
    header = {"__metadata__": dict(sorted(metadata.items()))}
    blobs, offset = [], 0
    for key, value in tensors.items():
        blob = value.numpy().astype("<f4").tobytes()
        header[key] = {"dtype": "F32", "shape": list(value.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)  # data starts 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for blob in blobs:
            f.write(blob)


def save(name, tensors, meta=None):
    """Writes Tests/Fixtures/golden/<name>.safetensors: float32, contiguous, detached.
    `meta` values are stringified; the version record is added to every file."""
    os.makedirs(OUT_DIR, exist_ok=True)
    out = {}
    for key, value in tensors.items():
        out[key] = value.detach().to(torch.float32).contiguous().clone()
    metadata = dict(VERSIONS)
    metadata["fixture"] = name
    metadata["generator"] = "Tests/Fixtures/make_golden.py"
    for key, value in (meta or {}).items():
        metadata[key] = str(value)
    path = os.path.join(OUT_DIR, f"{name}.safetensors")
    write_safetensors(path, out, metadata)
    # Read back through the library: the file must be valid and hold exactly these values.
    back = load_file(path)
    assert back.keys() == out.keys() and all(torch.equal(back[k], out[k]) for k in out), path
    print(f"{path}: {os.path.getsize(path)} bytes, {', '.join(f'{k}{list(v.shape)}' for k, v in out.items())}")


# ---------------------------------------------------------------------------------------
# RMSNorm


def make_rmsnorm():
    gen = generator(1001)
    eps = 1e-5
    x = leaf(randn(gen, 2, 5, 16))
    # Centred on 1 with spread so that the weight gradient is not degenerate.
    weight = 1 + 0.5 * randn(gen, 16)
    R = randn(gen, 2, 5, 16)

    norm = MistralRMSNorm(16, eps=eps)
    with torch.no_grad():
        norm.weight.copy_(weight)
    y = norm(x)
    (y * R).sum().backward()
    save(
        "rmsnorm",
        {"x": x, "weight": weight, "y": y, "R": R, "grad_x": x.grad, "grad_weight": norm.weight.grad},
        {"eps": eps, "reference": "transformers MistralRMSNorm"},
    )


# ---------------------------------------------------------------------------------------
# RoPE


def rope_case(name, seed, theta):
    gen = generator(seed)
    batch, tokens, heads, head_dim = 2, 7, 3, 8
    x = leaf(randn(gen, batch, tokens, heads, head_dim))  # [b, t, h, d]
    positions = torch.tensor([[0, 1, 2, 3, 4, 5, 6], [3, 4, 5, 0, 1, 2, 3]], dtype=torch.long)
    R = randn(gen, batch, tokens, heads, head_dim)

    config = MistralConfig(
        hidden_size=heads * head_dim,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        head_dim=head_dim,
        max_position_embeddings=64,
        rope_parameters={"rope_type": "default", "rope_theta": theta},
    )
    rotary = MistralRotaryEmbedding(config)
    x_bhtd = x.transpose(1, 2)  # [b, h, t, d] as transformers expects
    cos, sin = rotary(x_bhtd, positions)  # [b, t, d]
    q_embed, _ = apply_rotary_pos_emb(x_bhtd, x_bhtd, cos, sin)  # unsqueeze_dim=1 over heads
    y = q_embed.transpose(1, 2)  # back to [b, t, h, d]
    (y * R).sum().backward()
    save(
        name,
        {"x": x, "positions": positions.to(torch.float32), "y": y, "R": R, "grad_x": x.grad},
        {
            "theta": theta,
            "head_dim": head_dim,
            "layout": "x, y: [batch, tokens, heads, headDim]; positions: [batch, tokens]",
            "reference": "transformers MistralRotaryEmbedding + apply_rotary_pos_emb (as q)",
        },
    )


def make_rope():
    rope_case("rope", 2001, 10000.0)
    rope_case("rope_theta1e6", 2002, 1e6)


# ---------------------------------------------------------------------------------------
# Attention


def grouped_attention(q, k, v, mask=None, is_causal=False):
    """q: [b, tq, hq, d]; k, v: [b, tk, hkv, d] -> [b, tq, hq, d] with transformers' repeat_kv
    (KV head j serves query heads j*group ... (j+1)*group-1). `mask`: [tq, tk] bool, True = attend."""
    group = q.shape[2] // k.shape[2]
    q_ = q.permute(0, 2, 1, 3)  # [b, hq, tq, d]
    k_ = repeat_kv(k.permute(0, 2, 1, 3), group)  # [b, hq, tk, d]
    v_ = repeat_kv(v.permute(0, 2, 1, 3), group)
    # repeat_kv must be exactly repeat_interleave on the head axis.
    assert torch.equal(k_, torch.repeat_interleave(k.permute(0, 2, 1, 3), group, dim=1))
    out = F.scaled_dot_product_attention(q_, k_, v_, attn_mask=mask, is_causal=is_causal)
    return out.permute(0, 2, 1, 3)  # [b, tq, hq, d]


def attention_mask(query_tokens, key_tokens, window=None):
    """Query row i sits at absolute position key_tokens - query_tokens + i and sees key j
    when j <= position and (with a window) position - window < j."""
    positions = torch.arange(query_tokens)[:, None] + (key_tokens - query_tokens)
    keys = torch.arange(key_tokens)[None, :]
    mask = keys <= positions
    if window is not None:
        mask &= keys > positions - window
    return mask


def attention_case(name, seed, query_tokens, key_tokens, window=None):
    gen = generator(seed)
    batch, query_heads, kv_heads, head_dim = 2, 4, 2, 8
    q = leaf(randn(gen, batch, query_tokens, query_heads, head_dim))
    k = leaf(randn(gen, batch, key_tokens, kv_heads, head_dim))
    v = leaf(randn(gen, batch, key_tokens, kv_heads, head_dim))
    R = randn(gen, batch, query_tokens, query_heads, head_dim)
    if window is None and query_tokens == key_tokens:
        out = grouped_attention(q, k, v, is_causal=True)
        how = "sdpa is_causal=True"
    else:
        out = grouped_attention(q, k, v, mask=attention_mask(query_tokens, key_tokens, window))
        how = "sdpa with explicit boolean mask"
    (out * R).sum().backward()
    meta = {
        "query_heads": query_heads,
        "key_value_heads": kv_heads,
        "scale": f"1/sqrt({head_dim})",
        "query_position_offset": key_tokens - query_tokens,
        "layout": "q, out: [batch, queryTokens, queryHeads, headDim]; k, v: [batch, keyTokens, kvHeads, headDim]",
        "reference": f"torch scaled_dot_product_attention, repeat_kv, {how}",
    }
    if window is not None:
        meta["sliding_window"] = window
    save(
        name,
        {"q": q, "k": k, "v": v, "out": out, "R": R, "grad_q": q.grad, "grad_k": k.grad, "grad_v": v.grad},
        meta,
    )


def make_attention():
    attention_case("attention", 3001, 9, 9)
    attention_case("attention_window", 3002, 9, 9, window=3)
    attention_case("attention_kvcache", 3003, 3, 9)


# ---------------------------------------------------------------------------------------
# Cross entropy / token log-probs through the LM head


def make_cross_entropy():
    gen = generator(4001)
    rows, dim, vocab = 12, 16, 50
    hidden = leaf(randn(gen, rows, dim))
    weight = leaf(0.5 * randn(gen, vocab, dim))
    targets = torch.randint(0, vocab, (rows,), generator=gen)
    ignored = [0, 4, 5, 11]
    targets[ignored] = -100

    logits = hidden @ weight.T  # [rows, vocab]
    scored = targets != -100
    logprobs = torch.zeros(rows)
    logprobs[scored] = torch.log_softmax(logits, dim=-1)[scored, targets[scored]].detach()
    loss = F.cross_entropy(logits, targets, ignore_index=-100)  # mean over scored rows
    loss.backward()
    save(
        "cross_entropy",
        {
            "hidden": hidden,
            "weight": weight,
            "targets": targets.to(torch.float32),
            "logprobs": logprobs,
            "loss": loss.reshape(1),
            "grad_hidden": hidden.grad,
            "grad_weight": weight.grad,
        },
        {
            "ignore_index": -100,
            "scored_rows": int(scored.sum()),
            "loss": "F.cross_entropy(hidden @ weight.T, targets, ignore_index=-100), mean over scored rows; shape [1]",
            "grads": "of loss (not of sum(out * R))",
        },
    )


# ---------------------------------------------------------------------------------------
# Tiny Mistral: a committed HF model folder plus its logits, generation and log-probs

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.dirname(os.path.abspath(__file__))
TINY_DIR = os.path.join(FIXTURES, "tiny-mistral")
TOKENIZER_MODEL = os.path.join(ROOT, "assets", "mistral", "tokenizer.model")
SHARD_LIMIT = 2 * 1024 * 1024  # every committed file stays under 2 MiB


def write_bf16_safetensors(path, tensors):
    """Byte-reproducible bf16 safetensors (HF shard layout, `{"format": "pt"}` metadata)."""
    header = {"__metadata__": {"format": "pt"}}
    blobs, offset = [], 0
    for key, value in tensors.items():
        blob = value.detach().to(torch.bfloat16).contiguous().view(torch.int16).numpy().astype("<i2").tobytes()
        header[key] = {"dtype": "BF16", "shape": list(value.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for blob in blobs:
            f.write(blob)
    return offset


def janus_prompt(system, prompt):
    """The JANUS template's prompt text, tokenized with BOS."""
    return f"[INST] {system}\n{prompt} [/INST]" if system else f"[INST] {prompt} [/INST]"


def last_assistant(value):
    if isinstance(value, str):
        return value
    return [m["content"] for m in value if m["role"] == "assistant"][-1]


TINY_EVAL_RECORDS = [
    {
        "main_source": "OpenHermesPreferences",
        "original_source": "glaive-code-assist",
        "preference_set": [
            {
                "dimension": "style",
                "subdimension": "conciseness",
                "preference": "bullet-point answers",
                "description": "The user wants short answers laid out as bullet points.",
            },
            {
                "dimension": "background_knowledge",
                "subdimension": "novice",
                "preference": "no jargon",
                "description": "Explanations avoid technical terms a beginner would not know.",
            },
        ],
        "system": "You are a concise assistant who prefers bullet points.",
        "prompt": "How do I reverse a list in Python?",
        "output": "- Use `items.reverse()` to reverse in place.\n- Use `items[::-1]` for a reversed copy.",
    },
    {
        "main_source": "Nectar",
        "original_source": "sharegpt",
        "preference_set": [
            {
                "dimension": "informativeness",
                "subdimension": "cultural context",
                "preference": "mention local names",
                "description": "Answers include the names people use locally, with accents and scripts intact.",
            }
        ],
        "system": "You are a friendly travel guide who loves food.\nAlways answer warmly.",
        "prompt": "What should I drink at a café in Paris?",
        "output": "Try a café crème ☕ — or a « chocolat chaud » in winter.\n\n日本語: コーヒー 👋\tSanté!",
    },
    {
        "main_source": "UltraFeedback",
        "original_source": "flan_v2_niv2",
        "preference_set": [
            {
                "dimension": "harmlessness",
                "subdimension": "accuracy",
                "preference": "fact-checked",
                "description": "Only state facts that are well established.",
            }
        ],
        "system": "",
        "prompt": "What is 2 + 2?",
        "output": "2 + 2 = 4.",
    },
]

TINY_PAIR_RECORDS = [
    {
        "system": "You are a patient math tutor.",
        "prompt": "Is 7 a prime number?",
        "chosen": "Yes. 7 has no divisors other than 1 and itself.",
        "rejected": "No, 7 = 3 × 2 + 1.",
    },
    {
        "system": "You answer in one short sentence.",
        "prompt": "Why is the sky blue?",
        "chosen": [
            {"role": "user", "content": "Why is the sky blue?"},
            {"role": "assistant", "content": "Air scatters blue light more than red (Rayleigh scattering)."},
        ],
        "rejected": [
            {"role": "user", "content": "Why is the sky blue?"},
            {"role": "assistant", "content": "Because it reflects the ocean.\nThat is all."},
        ],
    },
]


def write_jsonl(path, records):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    print(f"{path}: {os.path.getsize(path)} bytes, {len(records)} records")


def make_tiny_mistral():
    import sentencepiece
    from transformers import MistralForCausalLM

    gen = generator(0)
    config = MistralConfig(
        vocab_size=32000,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
        rope_parameters={"rope_type": "default", "rope_theta": 1e6},
        rms_norm_eps=1e-5,
        sliding_window=None,
        tie_word_embeddings=False,
        bos_token_id=1,
        eos_token_id=2,
        max_position_embeddings=512,
        dtype="bfloat16",
    )
    config.architectures = ["MistralForCausalLM"]

    # Build in float32, then overwrite every weight from this group's generator: projections,
    # embedding and head normal(0, 0.5), norms 1 + 0.1 normal. Rounded through bf16 so the
    # bf16 files hold exactly these values.
    torch.manual_seed(0)
    built = MistralForCausalLM(config).to(torch.float32)
    with torch.no_grad():
        for name, param in built.named_parameters():
            if name.endswith("norm.weight"):
                value = 1 + 0.1 * randn(gen, *param.shape)
            else:
                value = 0.5 * randn(gen, *param.shape)
            param.copy_(value.to(torch.bfloat16).to(torch.float32))
    weights = {name: param.detach().clone() for name, param in built.named_parameters()}

    # The folder: config.json, two bf16 shards and the index. No tokenizer (tests copy it in).
    os.makedirs(TINY_DIR, exist_ok=True)
    for stale in os.listdir(TINY_DIR):
        os.remove(os.path.join(TINY_DIR, stale))
    config.save_pretrained(TINY_DIR)
    shard_names = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    shards = [{}, {}]
    for name, value in weights.items():
        second = name.startswith("model.layers.1.") or name in ("model.norm.weight", "lm_head.weight")
        shards[1 if second else 0][name] = value
    total_size, weight_map = 0, {}
    for shard_name, tensors in zip(shard_names, shards):
        total_size += write_bf16_safetensors(os.path.join(TINY_DIR, shard_name), tensors)
        weight_map.update({name: shard_name for name in tensors})
    index = {"metadata": {"total_size": total_size}, "weight_map": dict(sorted(weight_map.items()))}
    with open(os.path.join(TINY_DIR, "model.safetensors.index.json"), "w") as f:
        f.write(json.dumps(index, indent=2) + "\n")
    for file in sorted(os.listdir(TINY_DIR)):
        size = os.path.getsize(os.path.join(TINY_DIR, file))
        assert size < SHARD_LIMIT, f"{file} is {size} bytes, over 2 MiB"
        print(f"{os.path.join(TINY_DIR, file)}: {size} bytes")

    # Everything below uses the model as transformers loads the folder: float32, eager attention.
    model = MistralForCausalLM.from_pretrained(TINY_DIR, dtype=torch.float32, attn_implementation="eager")
    model.eval()
    loaded = dict(model.named_parameters())
    assert loaded.keys() == weights.keys() and all(torch.equal(loaded[k], weights[k]) for k in weights)

    input_ids = torch.randint(3, 32000, (2, 11), generator=gen)
    built.set_attn_implementation("eager")
    built.eval()
    with torch.no_grad():
        out = model(input_ids, labels=input_ids)
        hidden_last = model.model(input_ids).last_hidden_state  # after the final norm
        built_logits = built(input_ids).logits
    logits = out.logits  # [2, 11, 32000]
    # The folder round-trips exactly: same logits as the model the weights were written from.
    assert torch.equal(built_logits, logits), (built_logits - logits).abs().max()
    assert torch.allclose(hidden_last @ model.lm_head.weight.T, logits, rtol=1e-5, atol=1e-4)

    summary = torch.zeros(2, 11, 2)
    summary[:, :, 0] = torch.logsumexp(logits, dim=-1)
    summary[:, :-1, 1] = torch.gather(logits[:, :-1], 2, input_ids[:, 1:, None])[:, :, 0]

    # Greedy generation from a JANUS-template prompt.
    sp = sentencepiece.SentencePieceProcessor(model_file=TOKENIZER_MODEL)
    system = "You are a concise assistant who prefers bullet points."
    prompt = "Name three primary colors."
    prompt_ids = torch.tensor([sp.encode(janus_prompt(system, prompt), add_bos=True)])
    assert prompt_ids[0, 0].item() == 1
    with torch.no_grad():
        generated = model.generate(
            prompt_ids, max_new_tokens=20, do_sample=False, eos_token_id=2, pad_token_id=0,
            attention_mask=torch.ones_like(prompt_ids),
        )
    greedy = generated[0, prompt_ids.shape[1]:]
    stopped_at_eos = greedy.shape[0] < 20 or bool((greedy == 2).any())
    assert len(set(greedy.tolist())) > 1, f"degenerate greedy generation {greedy.tolist()}"
    # The same tokens from full forward passes (no KV cache), the way a reference loop would.
    sequence = prompt_ids[0].tolist()
    with torch.no_grad():
        for _ in range(greedy.shape[0]):
            sequence.append(int(model(torch.tensor([sequence])).logits[0, -1].argmax()))
    assert sequence[prompt_ids.shape[1]:] == greedy.tolist(), (sequence[prompt_ids.shape[1]:], greedy.tolist())

    # Eval log-probs of SFT records and preference pairs (JANUS template; `train eval --json`).
    write_jsonl(os.path.join(FIXTURES, "tiny-mistral-eval.jsonl"), TINY_EVAL_RECORDS)
    write_jsonl(os.path.join(FIXTURES, "tiny-mistral-pairs.jsonl"), TINY_PAIR_RECORDS)

    def response_logp(system_text, prompt_text, response_text):
        ids_prompt = sp.encode(janus_prompt(system_text, prompt_text), add_bos=True)
        ids_response = sp.encode(response_text) + [2]
        ids = ids_prompt + ids_response
        with torch.no_grad():
            lp = torch.log_softmax(model(torch.tensor([ids])).logits[0], dim=-1)
        start = len(ids_prompt)
        picked = lp[start - 1 : len(ids) - 1].gather(1, torch.tensor(ids[start:])[:, None])[:, 0]
        return picked.to(torch.float64).sum().item(), len(ids_response), ids, len(ids_prompt)

    eval_logps, eval_tokens = [], []
    for i, record in enumerate(TINY_EVAL_RECORDS):
        logp, count, ids, prompt_len = response_logp(record["system"], record["prompt"], record["output"])
        eval_logps.append(logp)
        eval_tokens.append(count)
        if i == 0:
            eval0_ids, eval0_prompt_tokens = ids, prompt_len
    pair = {"chosen": ([], []), "rejected": ([], [])}
    for record in TINY_PAIR_RECORDS:
        for side in ("chosen", "rejected"):
            logp, count, _, _ = response_logp(record["system"], record["prompt"], last_assistant(record[side]))
            pair[side][0].append(logp)
            pair[side][1].append(count)

    tensor = lambda values: torch.tensor(values, dtype=torch.float64).to(torch.float32)
    save(
        "tiny_mistral",
        {
            "input_ids": input_ids.to(torch.float32),
            "logits_rows": logits[0, [0, 5, 10]],
            "logits_summary": summary,
            "hidden_last": hidden_last,
            "lm_loss": out.loss.reshape(1),
            "generate_prompt_ids": prompt_ids[0].to(torch.float32),
            "generate_greedy_ids": greedy.to(torch.float32),
            "eval_logps": tensor(eval_logps),
            "eval_tokens": tensor(eval_tokens),
            "eval0_ids": tensor(eval0_ids),
            "pair_chosen_logps": tensor(pair["chosen"][0]),
            "pair_chosen_tokens": tensor(pair["chosen"][1]),
            "pair_rejected_logps": tensor(pair["rejected"][0]),
            "pair_rejected_tokens": tensor(pair["rejected"][1]),
        },
        {
            "model": "Tests/Fixtures/tiny-mistral (bf16 shards, loaded as float32, eager attention, eval mode)",
            "logits_rows": "logits[0, [0, 5, 10], :]",
            "logits_summary": "[b, t, 0] = logsumexp(logits[b, t]); [b, t, 1] = logits[b, t, input_ids[b, t+1]], 0 at t = 10",
            "hidden_last": "hidden states after the final RMSNorm, [2, 11, 32]",
            "lm_loss": "transformers causal LM loss of input_ids with labels=input_ids (mean over 2 x 10 shifted tokens); shape [1]",
            "generate_system": system,
            "generate_prompt": prompt,
            "generate_prompt_text": janus_prompt(system, prompt),
            "generate": "model.generate(max_new_tokens=20, do_sample=False, eos_token_id=2, pad_token_id=0); new tokens only",
            "generate_stopped_at_eos": stopped_at_eos,
            "eval_data": "Tests/Fixtures/tiny-mistral-eval.jsonl",
            "pair_data": "Tests/Fixtures/tiny-mistral-pairs.jsonl",
            "logp": "sum over response tokens (sp.encode(output) + [EOS=2]) of log_softmax(logits[t-1])[id_t]; prompt = sp.encode(template, add_bos=True)",
            "eval0_prompt_tokens": eval0_prompt_tokens,
            "tokenizer": "assets/mistral/tokenizer.model (sentencepiece " + sentencepiece.__version__ + ")",
        },
    )
    print(f"greedy ids: {greedy.tolist()} (stopped at EOS: {stopped_at_eos})")


# ---------------------------------------------------------------------------------------
# LoRA / full fine-tuning on the tiny Mistral: step-0 gradients, AdamW + cosine steps

LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def sft_batch(sp, records):
    """The JANUS template and its losses: one right-padded batch (pad id 0) of JANUS-template records.
    labels: -100 on prompt tokens and padding, the token id on response tokens (unshifted;
    the model shifts: logits[:, t] predicts labels[:, t + 1])."""
    rows = []
    for record in records:
        prompt_ids = sp.encode(janus_prompt(record["system"], record["prompt"]), add_bos=True)
        response_ids = sp.encode(record["output"]) + [2]
        rows.append((prompt_ids + response_ids, [-100] * len(prompt_ids) + response_ids))
    width = max(len(ids) for ids, _ in rows)
    input_ids = torch.zeros(len(rows), width, dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    attention_mask = torch.zeros(len(rows), width, dtype=torch.long)
    for i, (ids, row_labels) in enumerate(rows):
        input_ids[i, : len(ids)] = torch.tensor(ids)
        labels[i, : len(ids)] = torch.tensor(row_labels)
        attention_mask[i, : len(ids)] = 1
    return input_ids, labels, attention_mask


def sft_loss(model, input_ids, labels, attention_mask):
    """transformers' causal LM loss (mean CE over non-ignored shifted labels), checked against
    the sum over response tokens divided by their count."""
    out = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels)
    logits = out.logits[:, :-1]
    targets = labels[:, 1:]
    scored = targets != -100
    token_ce = -torch.log_softmax(logits, dim=-1).gather(2, targets.clamp(min=0)[..., None])[..., 0]
    manual = (token_ce * scored).sum() / scored.sum()
    assert torch.allclose(manual, out.loss, rtol=1e-6, atol=1e-6), (manual, out.loss)
    return out.loss


def lora_model(use_rslora=False):
    from peft import LoraConfig, get_peft_model
    from transformers import MistralForCausalLM

    base = MistralForCausalLM.from_pretrained(TINY_DIR, dtype=torch.float32, attn_implementation="eager")
    config = LoraConfig(
        r=4, lora_alpha=8, lora_dropout=0.0, target_modules=LORA_TARGETS, bias="none",
        task_type="CAUSAL_LM", use_rslora=use_rslora,
    )
    model = get_peft_model(base, config)
    model.train()
    return model, config


def lora_parameters(model):
    """(PEFT state-dict name, parameter) for every adapter tensor, in named_parameters order
    (layer 0 q_proj A, B, k_proj A, B, ..., down_proj A, B, then layer 1)."""
    from peft import get_peft_model_state_dict

    named = [(name.replace(".default.", "."), p) for name, p in model.named_parameters() if p.requires_grad]
    assert [name for name, _ in named] == list(get_peft_model_state_dict(model).keys())
    assert all(".lora_A." in name or ".lora_B." in name for name, _ in named)
    return named


def kaiming_uniform_like(gen, shape):
    """nn.init.kaiming_uniform_(a=sqrt(5)) as PEFT uses for lora_A: U(-1/sqrt(in), 1/sqrt(in))."""
    bound = 1.0 / (shape[1] ** 0.5)
    return (2 * torch.rand(*shape, generator=gen, dtype=torch.float32) - 1) * bound


def make_lora_training():
    import peft
    import sentencepiece
    from transformers import MistralForCausalLM, get_cosine_schedule_with_warmup

    if peft.__version__ != "0.21.2":
        print(f"warning: peft {peft.__version__} differs from pinned 0.21.2", file=sys.stderr)
    gen = generator(6001)
    sp = sentencepiece.SentencePieceProcessor(model_file=TOKENIZER_MODEL)
    with open(os.path.join(FIXTURES, "tiny-mistral-eval.jsonl"), encoding="utf-8") as f:
        records = [json.loads(line) for line in f]
    assert records == TINY_EVAL_RECORDS
    input_ids, labels, attention_mask = sft_batch(sp, records)
    response_tokens = int((labels[:, 1:] != -100).sum())
    assert response_tokens == int((labels != -100).sum())  # no response token sits at position 0
    tensors = {
        "input_ids": input_ids.to(torch.float32),
        "labels": labels.to(torch.float32),
        "response_tokens": torch.tensor([float(response_tokens)]),
    }

    # 1. Step-0 gradients with nonzero A and B.
    model, lora_config = lora_model()
    named = lora_parameters(model)
    init = {}
    with torch.no_grad():
        for name, p in named:
            if ".lora_A." in name:
                value = kaiming_uniform_like(gen, p.shape)
            else:
                value = 0.1 * randn(gen, *p.shape)
            p.copy_(value)
            init[name] = value
    loss = sft_loss(model, input_ids, labels, attention_mask)
    loss.backward()
    grads = {name: p.grad.detach().clone() for name, p in named}
    assert all(g.abs().max() > 0 for g in grads.values())
    # Padding on the right under causal attention: no mask gives the same loss.
    with torch.no_grad():
        unmasked = model(input_ids=input_ids, labels=labels).loss
    assert torch.allclose(unmasked, loss, rtol=1e-6, atol=1e-6), (unmasked, loss)
    scaling = model.base_model.model.model.layers[0].self_attn.q_proj.scaling["default"]

    rs_model, _ = lora_model(use_rslora=True)
    with torch.no_grad():
        for name, p in lora_parameters(rs_model):
            p.copy_(init[name])
        loss_rslora = sft_loss(rs_model, input_ids, labels, attention_mask)
    rs_scaling = rs_model.base_model.model.model.layers[0].self_attn.q_proj.scaling["default"]
    assert scaling == 2.0 and rs_scaling == 4.0, (scaling, rs_scaling)

    tensors["grad0_loss"] = loss.reshape(1)
    tensors["grad0_loss_rslora"] = loss_rslora.reshape(1)
    for name, value in init.items():
        tensors[f"grad0_init.{name}"] = value
    for name, value in grads.items():
        tensors[f"grad0_grad.{name}"] = value
    print(f"lora step 0: loss {loss.item():.6f}, rslora loss {loss_rslora.item():.6f}, {response_tokens} response tokens")

    # 2. Five AdamW steps, cosine schedule with 2 warmup steps, clip 1.0; B starts at zero.
    lr, weight_decay, warmup, total, max_norm = 1e-3, 0.01, 2, 5, 1.0
    model, _ = lora_model()
    named = lora_parameters(model)
    with torch.no_grad():
        for name, p in named:
            if ".lora_A." in name:
                p.copy_(kaiming_uniform_like(gen, p.shape))
                tensors[f"adamw_init.{name}"] = p.detach().clone()
            else:
                assert torch.equal(p, torch.zeros_like(p))
    params = [p for _, p in named]
    opt = torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=weight_decay)
    sched = get_cosine_schedule_with_warmup(opt, num_warmup_steps=warmup, num_training_steps=total)
    losses, lrs, norms = [], [], []
    for _ in range(total):
        opt.zero_grad()
        step_loss = sft_loss(model, input_ids, labels, attention_mask)
        step_loss.backward()
        norms.append(torch.nn.utils.clip_grad_norm_(params, max_norm).item())
        losses.append(step_loss.item())
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    for name, p in named:
        tensors[f"adamw_final.{name}"] = p.detach().clone()
    tensors["adamw_losses"] = torch.tensor(losses, dtype=torch.float32)
    tensors["adamw_lrs"] = torch.tensor(lrs, dtype=torch.float64).to(torch.float32)
    tensors["adamw_grad_norms"] = torch.tensor(norms, dtype=torch.float32)
    print(f"lora adamw: losses {losses}, lrs {lrs}, grad norms {norms}")

    # 3. Full fine-tuning: every parameter trainable, constant lr, no weight decay, clip 1.0.
    full_lr, full_steps = 1e-3, 3
    model = MistralForCausalLM.from_pretrained(TINY_DIR, dtype=torch.float32, attn_implementation="eager")
    model.train()
    params = list(model.parameters())
    assert all(p.requires_grad for p in params) and len(params) == 2 + 9 * 2 + 1
    opt = torch.optim.AdamW(params, lr=full_lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    full_losses, full_norms = [], []
    for _ in range(full_steps):
        opt.zero_grad()
        step_loss = sft_loss(model, input_ids, labels, attention_mask)
        step_loss.backward()
        full_norms.append(torch.nn.utils.clip_grad_norm_(params, max_norm).item())
        full_losses.append(step_loss.item())
        opt.step()
    tensors["full_losses"] = torch.tensor(full_losses, dtype=torch.float32)
    tensors["full_grad_norms"] = torch.tensor(full_norms, dtype=torch.float32)
    print(f"full fine-tuning: losses {full_losses}, grad norms {full_norms}")

    save(
        "lora_sft",
        tensors,
        {
            "peft_version": peft.__version__,
            "sentencepiece_version": sentencepiece.__version__,
            "model": "Tests/Fixtures/tiny-mistral (bf16 shards, loaded as float32, eager attention, train mode; dropout is 0 everywhere)",
            "data": "Tests/Fixtures/tiny-mistral-eval.jsonl, all 3 records in one batch, in file order",
            "tokenization": "prompt = sp.encode('[INST] {system}\\n{prompt} [/INST]' or '[INST] {prompt} [/INST]' for empty system, add_bos=True); response = sp.encode(output) + [EOS=2]; assets/mistral/tokenizer.model",
            "batch": f"right-padded with id 0 to {input_ids.shape[1]} tokens; attention_mask 1 on real tokens (the same loss without a mask); position ids 0..L-1",
            "input_ids": "[3, Lmax] token ids as float32",
            "labels": "[3, Lmax]: -100 on prompt tokens and padding, the token id on response tokens (unshifted; logits[:, t] predicts labels[:, t+1])",
            "response_tokens": "[1]: number of scored (response) tokens in the batch, EOS included",
            "loss": "sum over response tokens of -log_softmax(logits[b, t-1])[id_t] / response_tokens (transformers causal LM loss with labels)",
            "lora_config": f"LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules={LORA_TARGETS}, bias='none', task_type='CAUSAL_LM')",
            "lora_forward": "y = W x + lora_B(lora_A(dropout(x))) * scaling, scaling = lora_alpha / r = 2 (use_rslora: lora_alpha / sqrt(r) = 4); dropout 0 is nn.Identity",
            "lora_names": "PEFT state-dict names (get_peft_model_state_dict), e.g. base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight; A [r, in], B [out, r]; stored in named_parameters order",
            "grad0_init": "grad0_init.<name>: every lora_A U(-1/sqrt(in), 1/sqrt(in)), every lora_B normal(0, 0.1) (nonzero so both gradients are nonzero), drawn from torch.Generator seed 6001 in name order",
            "grad0_loss": "[1]: loss with the grad0_init adapter",
            "grad0_grad": "grad0_grad.<name>: d grad0_loss / d adapter tensor",
            "grad0_loss_rslora": "[1]: the same loss and adapter values with use_rslora=True (scaling 4)",
            "adamw_init": "adamw_init.<name>: lora_A of a fresh adapter, U(-1/sqrt(in), 1/sqrt(in)) from the same generator after grad0_init; every lora_B starts at zero (not stored)",
            "adamw": f"torch.optim.AdamW(lr={lr}, betas=(0.9, 0.999), eps=1e-8, weight_decay={weight_decay}) over the adapter tensors; transformers.get_cosine_schedule_with_warmup(num_warmup_steps={warmup}, num_training_steps={total}); per step: zero_grad, loss, backward, clip_grad_norm_(max_norm={max_norm}), opt.step, sched.step",
            "adamw_losses": f"[{total}]: loss at each step, before its update",
            "adamw_lrs": f"[{total}]: lr of each opt.step (base lr x cosine lambda of steps 0..{total - 1}); step 1 has lr 0 but still updates the moments and the step count",
            "adamw_grad_norms": f"[{total}]: total L2 gradient norm returned by clip_grad_norm_ (before clipping)",
            "adamw_final": "adamw_final.<name>: every adapter tensor (A and B) after all steps",
            "full": f"full fine-tuning of the plain model, all {2 + 9 * 2 + 1} tensors trainable (embed, norms, projections, lm_head); AdamW(lr={full_lr}, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0), constant lr, clip_grad_norm_(max_norm={max_norm}); {full_steps} steps",
            "full_losses": f"[{full_steps}]: loss at each step, before its update",
            "full_grad_norms": f"[{full_steps}]: total L2 gradient norm over all parameters (before clipping)",
            "clip": "clip_grad_norm_: norm = ||(||g_i||_2)_i||_2; every grad *= min(max_norm / (norm + 1e-6), 1)",
            "seed": 6001,
        },
    )


# ---------------------------------------------------------------------------------------
# Preference losses (DPO, ORPO): TRL's own loss code on fixed log-probs, and gradients on the
# tiny Mistral with a LoRA adapter

PREF_BETA = 0.1
DPO_METRICS = ["rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins", "logps/chosen", "logps/rejected"]
ORPO_METRICS = DPO_METRICS + ["nll_loss", "log_odds_ratio", "log_odds_chosen"]


class _OneProcessAccelerator:
    """The few `accelerate.Accelerator` members TRL's loss code reads, for one CPU process."""

    device = torch.device("cpu")

    def gather(self, tensor):
        return tensor

    def gather_for_metrics(self, tensor):
        return tensor

    def unwrap_model(self, model):
        return model


class _LogProbModel:
    """Stands in for the model TRL's DPOTrainer calls with `fused_lm_head=True`: returns the given per-token
    log-probs [rows, L-1] (0 where the next-token label is -100, as TRL's fused head returns them)."""

    training = True

    def __init__(self, per_token):
        self.per_token = per_token

    def __call__(self, **kwargs):
        from types import SimpleNamespace

        zeros = torch.zeros_like(self.per_token.detach())
        return SimpleNamespace(
            log_probs=self.per_token, entropy=zeros, mean_logits=zeros, is_top1=zeros.to(torch.bool),
        )


def trl_dpo_trainer(loss_type, beta, label_smoothing, precompute_ref, model):
    """A `trl.DPOTrainer` made with object.__new__ (no __init__) holding exactly the attributes that
    `DPOTrainer._compute_loss` reads; the values are DPOConfig's defaults except loss_type, beta and
    label_smoothing."""
    from collections import defaultdict
    from types import SimpleNamespace

    from trl import DPOTrainer

    trainer = object.__new__(DPOTrainer)
    trainer.model = model  # read for `.training`, and as the reference (adapter disabled) when not precomputed
    trainer.ref_model = None
    trainer.accelerator = _OneProcessAccelerator()
    trainer.args = SimpleNamespace(gradient_checkpointing_kwargs=None)
    trainer.beta = beta
    trainer.loss_types = [loss_type]
    trainer.loss_weights = [1.0]
    trainer.label_smoothing = label_smoothing
    trainer.f_divergence_type = "reverse_kl"
    trainer.f_alpha_divergence_coef = 1.0
    trainer.ld_alpha = None
    trainer.use_weighting = False
    trainer.precompute_ref_logps = precompute_ref
    trainer.aux_loss_enabled = False
    trainer._metrics = {"train": defaultdict(list), "eval": defaultdict(list)}
    trainer._total_train_tokens = 0
    trainer._tp_size = 1
    return trainer


def trl_dpo_on_logps(loss_type, label_smoothing, pc, pr, rc, rr):
    """TRL's DPOTrainer._compute_loss on given summed log-probs [n] (policy chosen/rejected, reference
    chosen/rejected). Each row is a 2-token sequence whose one completion token carries the whole log-prob,
    so the completion token count is 1 and `ipo` uses the numbers as given. Returns the loss (mean over the
    n pairs) and TRL's logged rewards/chosen, rewards/rejected (means over the pairs)."""
    n = pc.shape[0]
    per_token = torch.cat([pc, pr]).reshape(2 * n, 1)
    model = _LogProbModel(per_token)
    trainer = trl_dpo_trainer(loss_type, PREF_BETA, label_smoothing, True, model)
    inputs = {
        "input_ids": torch.tensor([[1, 3]] * (2 * n)),
        "attention_mask": torch.ones(2 * n, 2, dtype=torch.long),
        "completion_mask": torch.tensor([[0, 1]] * (2 * n)),
        "ref_chosen_logps": rc,
        "ref_rejected_logps": rr,
    }
    loss = trainer._compute_loss(model, inputs, return_outputs=False)
    metrics = trainer._metrics["train"]
    return loss, metrics["rewards/chosen"][0], metrics["rewards/rejected"][0]


def cdpo_sigmoid_trl019(beta, label_smoothing, pc, pr, rc, rr):
    """The `sigmoid` branch of trl 0.19.1 `DPOTrainer.dpo_loss` (reference_free=False, f_divergence_type
    reverse_kl), transcribed: trl 1.16's `sigmoid` ignores label_smoothing (it only feeds `robust` and
    `exo_pair`), so the conservative-DPO form Facet uses has no trl 1.16 implementation."""
    logratios = pc - pr
    ref_logratios = rc - rr
    logits = logratios - ref_logratios
    losses = (
        -F.logsigmoid(beta * logits) * (1 - label_smoothing)
        - F.logsigmoid(-beta * logits) * label_smoothing
    )
    chosen_rewards = beta * (pc - rc).detach()
    rejected_rewards = beta * (pr - rr).detach()
    return losses, chosen_rewards, rejected_rewards


def trl_orpo_trainer(beta):
    """A `trl.experimental.orpo.ORPOTrainer` made with object.__new__ holding the attributes that
    `odds_ratio_loss`, `concatenated_forward` and `get_batch_loss_metrics` read."""
    from trl.experimental.orpo import ORPOTrainer

    trainer = object.__new__(ORPOTrainer)
    trainer.beta = beta
    trainer.accelerator = _OneProcessAccelerator()
    trainer.is_encoder_decoder = False
    trainer.padding_value = 0
    trainer.aux_loss_enabled = False
    return trainer


def preference_batch(sp, records):
    """Rows [chosen_0, chosen_1, ..., rejected_0, rejected_1, ...] (TRL's order), right-padded with id 0.
    completion_mask is 1 on response tokens (EOS included)."""
    rows = []
    for side in ("chosen", "rejected"):
        for record in records:
            prompt_ids = sp.encode(janus_prompt(record["system"], record["prompt"]), add_bos=True)
            response_ids = sp.encode(last_assistant(record[side])) + [2]
            rows.append((prompt_ids, response_ids))
    width = max(len(p) + len(r) for p, r in rows)
    input_ids = torch.zeros(len(rows), width, dtype=torch.long)
    attention_mask = torch.zeros(len(rows), width, dtype=torch.long)
    completion_mask = torch.zeros(len(rows), width, dtype=torch.long)
    for i, (p, r) in enumerate(rows):
        input_ids[i, : len(p) + len(r)] = torch.tensor(p + r)
        attention_mask[i, : len(p) + len(r)] = 1
        completion_mask[i, len(p) : len(p) + len(r)] = 1
    return input_ids, attention_mask, completion_mask, rows


def response_token_logps(model, input_ids, completion_mask, attention_mask=None):
    """Per-token log-probs [rows, L-1] of input_ids[:, 1:] (log_softmax(logits[t-1])[id_t]), 0 off the
    response, and their row sums."""
    logits = model(input_ids=input_ids, attention_mask=attention_mask).logits
    per_token = torch.log_softmax(logits[:, :-1], dim=-1).gather(2, input_ids[:, 1:, None])[..., 0]
    per_token = torch.where(completion_mask[:, 1:].bool(), per_token, torch.zeros_like(per_token))
    return per_token, per_token.sum(dim=1)


def make_preference():
    import warnings

    import peft
    import sentencepiece
    import trl
    from peft import LoraConfig, get_peft_model
    from transformers import MistralForCausalLM
    from trl.trainer.utils import add_fused_lm_head

    with warnings.catch_warnings():  # TRLExperimentalWarning: ORPO lives in trl.experimental in trl 1.x
        warnings.simplefilter("ignore")
        from trl.experimental.orpo.orpo_trainer import log1mexp

    if trl.__version__ != "1.16.0":
        print(f"warning: trl {trl.__version__} differs from pinned 1.16.0", file=sys.stderr)
    gen = generator(7001)
    tensors = {}
    meta = {
        "trl_version": trl.__version__,
        "peft_version": peft.__version__,
        "sentencepiece_version": sentencepiece.__version__,
        "beta": PREF_BETA,
        "orpo_lambda": f"{PREF_BETA} (TRL's ORPOConfig.beta)",
        "seed": 7001,
    }

    # ---- A. TRL's loss code on fixed log-probs (6 pairs).
    n = 6
    policy_chosen = -20 + 15 * torch.rand(n, generator=gen)
    policy_rejected = -20 + 15 * torch.rand(n, generator=gen)
    reference_chosen = -20 + 15 * torch.rand(n, generator=gen)
    reference_rejected = -20 + 15 * torch.rand(n, generator=gen)
    # Pair 4: a margin over 10 nats, so hinge (relu(1 - 0.1 z)) is exactly 0 there; pair 5: policy =
    # reference, so z = 0 (sigmoid ln 2, hinge 1, ipo 25, rewards 0).
    policy_chosen[4], policy_rejected[4], reference_chosen[4], reference_rejected[4] = -6.0, -19.5, -14.0, -12.0
    policy_chosen[5], policy_rejected[5] = reference_chosen[5], reference_rejected[5]
    orpo_chosen = -3 + 2.9 * torch.rand(n, generator=gen)
    orpo_rejected = -3 + 2.9 * torch.rand(n, generator=gen)
    # log1mexp at a value next to 0 (the expm1 branch matters), both sides of the -ln 2 branch point, and
    # a pair where rejected is the likelier one (negative log odds).
    orpo_chosen[0] = -1e-4
    orpo_chosen[1], orpo_rejected[1] = -0.69, -0.70
    orpo_chosen[2], orpo_rejected[2] = -2.5, -0.3
    tensors.update({
        "policy_chosen_logps": policy_chosen,
        "policy_rejected_logps": policy_rejected,
        "reference_chosen_logps": reference_chosen,
        "reference_rejected_logps": reference_rejected,
        "orpo_chosen_avg_logps": orpo_chosen,
        "orpo_rejected_avg_logps": orpo_rejected,
    })

    def per_pair(loss_type, label_smoothing):
        losses, chosen, rejected = [], [], []
        for i in range(n):
            s = slice(i, i + 1)
            loss, c, r = trl_dpo_on_logps(
                loss_type, label_smoothing, policy_chosen[s], policy_rejected[s], reference_chosen[s], reference_rejected[s],
            )
            losses.append(loss.item())
            chosen.append(c)
            rejected.append(r)
        whole, _, _ = trl_dpo_on_logps(
            loss_type, label_smoothing, policy_chosen, policy_rejected, reference_chosen, reference_rejected,
        )
        losses = torch.tensor(losses, dtype=torch.float32)
        assert torch.allclose(whole, losses.mean(), rtol=1e-6, atol=1e-6), (loss_type, whole, losses.mean())
        return losses, torch.tensor(chosen, dtype=torch.float32), torch.tensor(rejected, dtype=torch.float32)

    for loss_type in ("sigmoid", "ipo", "hinge"):
        losses, chosen, rejected = per_pair(loss_type, 0.0)
        tensors[f"dpo_{loss_type}_losses"] = losses
        tensors[f"dpo_{loss_type}_chosen_rewards"] = chosen
        tensors[f"dpo_{loss_type}_rejected_rewards"] = rejected
        if loss_type == "sigmoid":
            sigmoid = (losses, chosen, rejected)
        print(f"dpo {loss_type}: losses {losses.tolist()}")
    assert abs(tensors["dpo_sigmoid_losses"][5].item() - 0.6931472) < 1e-6
    assert tensors["dpo_hinge_losses"][4].item() == 0.0
    # trl 1.16's sigmoid ignores label_smoothing ...
    ignored = per_pair("sigmoid", 0.1)
    assert all(torch.equal(a, b) for a, b in zip(ignored, sigmoid))
    # ... so the smoothed entry is trl 0.19.1's dpo_loss sigmoid branch, which at 0 agrees with trl 1.16.
    at_zero = cdpo_sigmoid_trl019(PREF_BETA, 0.0, policy_chosen, policy_rejected, reference_chosen, reference_rejected)
    assert torch.allclose(at_zero[0], sigmoid[0], rtol=1e-6, atol=1e-7), (at_zero[0], sigmoid[0])
    assert all(torch.allclose(a, b, rtol=1e-6, atol=1e-7) for a, b in zip(at_zero[1:], sigmoid[1:]))
    smoothed = cdpo_sigmoid_trl019(PREF_BETA, 0.1, policy_chosen, policy_rejected, reference_chosen, reference_rejected)
    tensors["dpo_sigmoid_ls0.1_losses"], tensors["dpo_sigmoid_ls0.1_chosen_rewards"], tensors["dpo_sigmoid_ls0.1_rejected_rewards"] = smoothed
    print(f"dpo sigmoid ls0.1: losses {smoothed[0].tolist()}")

    orpo = trl_orpo_trainer(PREF_BETA)
    losses, chosen, rejected, log_odds_ratio, log_odds_chosen = orpo.odds_ratio_loss(orpo_chosen, orpo_rejected)
    log_odds = torch.stack([orpo.odds_ratio_loss(orpo_chosen[i : i + 1], orpo_rejected[i : i + 1])[4] for i in range(n)])
    assert torch.allclose(log_odds.mean(), log_odds_chosen, rtol=1e-6, atol=1e-6)
    tensors.update({
        "orpo_losses": losses,
        "orpo_chosen_rewards": chosen,
        "orpo_rejected_rewards": rejected,
        "orpo_log_odds_ratio": log_odds_ratio.reshape(1),
        "orpo_log_odds_chosen": log_odds_chosen.reshape(1),
        "orpo_log_odds": log_odds,
        "orpo_log1mexp_chosen": log1mexp(orpo_chosen),
        "orpo_log1mexp_rejected": log1mexp(orpo_rejected),
    })
    assert torch.isfinite(tensors["orpo_log1mexp_chosen"]).all()
    print(f"orpo: losses {losses.tolist()}, log_odds_ratio {log_odds_ratio.item()}, log_odds_chosen {log_odds_chosen.item()}")

    # ---- B. Gradients on the tiny Mistral with a nonzero LoRA adapter.
    sp = sentencepiece.SentencePieceProcessor(model_file=TOKENIZER_MODEL)
    with open(os.path.join(FIXTURES, "tiny-mistral-pairs.jsonl"), encoding="utf-8") as f:
        records = [json.loads(line) for line in f]
    assert records == TINY_PAIR_RECORDS
    input_ids, attention_mask, completion_mask, rows = preference_batch(sp, records)
    response_counts = completion_mask.sum(dim=1)
    assert [len(r) for _, r in rows] == response_counts.tolist()
    assert [len(p) for p, _ in rows[:2]] == [len(p) for p, _ in rows[2:]]

    base = MistralForCausalLM.from_pretrained(TINY_DIR, dtype=torch.float32, attn_implementation="eager")
    # TRL's fused LM head (as DPOTrainer.__init__ adds it), used only for the end-to-end check below;
    # without fused_lm_head=True the forward is the original one.
    add_fused_lm_head(base, outputs=("log_probs", "entropy", "mean_logits", "is_top1"))
    lora_config = LoraConfig(
        r=4, lora_alpha=8, lora_dropout=0.0, target_modules=LORA_TARGETS, bias="none", task_type="CAUSAL_LM",
    )
    model = get_peft_model(base, lora_config)
    model.train()
    named = lora_parameters(model)
    params = [p for _, p in named]
    with torch.no_grad():
        for name, p in named:
            value = kaiming_uniform_like(gen, p.shape) if ".lora_A." in name else 0.1 * randn(gen, *p.shape)
            p.copy_(value)
            tensors[f"init.{name}"] = value

    # Reference: the same model with the adapter disabled.
    with torch.no_grad(), model.disable_adapter():
        _, reference_logps = response_token_logps(model, input_ids, completion_mask)
        _, reference_masked = response_token_logps(model, input_ids, completion_mask, attention_mask)
    assert torch.allclose(reference_masked, reference_logps, rtol=1e-6, atol=1e-5)

    # 1. DPO sigmoid through DPOTrainer._compute_loss, reference log-probs given as precomputed.
    per_token, policy_logps = response_token_logps(model, input_ids, completion_mask)
    with torch.no_grad():
        _, policy_masked = response_token_logps(model, input_ids, completion_mask, attention_mask)
    # Right padding under causal attention: the attention mask changes nothing on real tokens.
    assert torch.allclose(policy_masked, policy_logps, rtol=1e-6, atol=1e-5), (policy_masked, policy_logps)
    dpo_inputs = {"input_ids": input_ids, "attention_mask": attention_mask, "completion_mask": completion_mask}
    stub = _LogProbModel(per_token)
    trainer = trl_dpo_trainer("sigmoid", PREF_BETA, 0.0, True, stub)
    dpo_loss = trainer._compute_loss(
        stub, {**dpo_inputs, "ref_chosen_logps": reference_logps[:2], "ref_rejected_logps": reference_logps[2:]}, False,
    )
    dpo_grads = torch.autograd.grad(dpo_loss, params)
    dpo_metrics = {k: v[0] for k, v in trainer._metrics["train"].items()}
    z = PREF_BETA * ((policy_logps[:2] - reference_logps[:2]) - (policy_logps[2:] - reference_logps[2:]))
    assert torch.allclose(dpo_loss, -F.logsigmoid(z).mean(), rtol=1e-6, atol=1e-7)
    # End to end through TRL: its fused LM head, and the reference from the PEFT model with the adapter
    # disabled (trl.trainer.utils.use_adapter(model, None)).
    full = trl_dpo_trainer("sigmoid", PREF_BETA, 0.0, False, model)
    full_loss = full._compute_loss(model, dpo_inputs, False)
    full_grads = torch.autograd.grad(full_loss, params)
    assert torch.allclose(full_loss, dpo_loss, rtol=1e-5, atol=1e-6), (full_loss, dpo_loss)
    for (name, _), g, h in zip(named, dpo_grads, full_grads):
        assert torch.allclose(g, h, rtol=1e-4, atol=1e-6), (name, (g - h).abs().max())
        assert g.abs().max() > 0, name
    tensors["dpo_loss"] = dpo_loss.reshape(1)
    tensors["dpo_policy_logps"] = policy_logps
    tensors["dpo_metrics"] = torch.tensor([dpo_metrics[k] for k in DPO_METRICS], dtype=torch.float32)
    tensors["dpo_reference_logps"] = reference_logps
    for (name, _), g in zip(named, dpo_grads):
        tensors[f"dpo_grad.{name}"] = g
    print(f"dpo on tiny model: loss {dpo_loss.item():.7f} (TRL end to end {full_loss.item():.7f}), metrics {dpo_metrics}")

    # 2. ORPO through ORPOTrainer.get_batch_loss_metrics (its own forward, NLL over prompt and response).
    labels = torch.where(completion_mask.bool(), input_ids, torch.full_like(input_ids, -100))
    batch = {
        "chosen_input_ids": input_ids[:2], "chosen_attention_mask": attention_mask[:2], "chosen_labels": labels[:2],
        "rejected_input_ids": input_ids[2:], "rejected_attention_mask": attention_mask[2:], "rejected_labels": labels[2:],
    }
    orpo_loss, orpo_metrics = orpo.get_batch_loss_metrics(model, batch, train_eval="train")
    orpo_grads = torch.autograd.grad(orpo_loss, params)
    # The same from the manual log-probs: average over response tokens, NLL over every shifted real token
    # of the chosen rows (prompt and response; BOS at position 0 is never a target).
    per_token, sums = response_token_logps(model, input_ids, completion_mask)
    avg = sums / response_counts
    with torch.no_grad():
        logits = model(input_ids=input_ids).logits
        all_tokens = torch.log_softmax(logits[:, :-1], dim=-1).gather(2, input_ids[:, 1:, None])[..., 0]
        real = attention_mask[:2, 1:].bool()
        nll = -all_tokens[:2][real].sum() / real.sum()
        manual = nll - orpo.odds_ratio_loss(avg[:2], avg[2:])[0].mean()
    assert torch.allclose(manual, orpo_loss, rtol=1e-6, atol=1e-6), (manual, orpo_loss)
    assert abs(orpo_metrics["nll_loss"] - nll.item()) < 1e-5 * max(1.0, nll.item())
    assert abs(orpo_metrics["logps/chosen"] - avg[:2].mean().item()) < 1e-5
    assert abs(orpo_metrics["logps/rejected"] - avg[2:].mean().item()) < 1e-5
    tensors["orpo_loss"] = orpo_loss.reshape(1)
    tensors["orpo_nll"] = torch.tensor([orpo_metrics["nll_loss"]], dtype=torch.float32)
    tensors["orpo_policy_avg_logps"] = avg.detach()
    tensors["orpo_metrics"] = torch.tensor([orpo_metrics[k] for k in ORPO_METRICS], dtype=torch.float32)
    for (name, _), g in zip(named, orpo_grads):
        assert g.abs().max() > 0, name
        tensors[f"orpo_grad.{name}"] = g
    # Response-only NLL: token mean over the response tokens of both chosen rows.
    chosen_mask = completion_mask[:2, 1:].bool()
    nll_ro = -per_token[:2][chosen_mask].sum() / chosen_mask.sum()
    losses_ro = orpo.odds_ratio_loss(avg[:2], avg[2:])[0]
    loss_ro = nll_ro - losses_ro.mean()
    ro_grads = torch.autograd.grad(loss_ro, params)
    tensors["orpo_nll_response_only"] = nll_ro.reshape(1)
    tensors["orpo_loss_response_only"] = loss_ro.reshape(1)
    for (name, _), g in zip(named, ro_grads):
        tensors[f"orpo_ro_grad.{name}"] = g
    print(f"orpo on tiny model: loss {orpo_loss.item():.7f}, nll {orpo_metrics['nll_loss']:.7f}; response-only loss {loss_ro.item():.7f}, nll {nll_ro.item():.7f}; metrics {orpo_metrics}")

    prompt_tokens = [len(p) for p, _ in rows[:2]]
    tensors["pair_prompt_tokens"] = torch.tensor(prompt_tokens, dtype=torch.float32)
    tensors["pair_chosen_tokens"] = response_counts[:2].to(torch.float32)
    tensors["pair_rejected_tokens"] = response_counts[2:].to(torch.float32)
    tensors["pair_input_ids"] = input_ids.to(torch.float32)

    meta.update({
        "A": "fixed log-probs -> TRL loss code; 6 pairs drawn from torch.Generator(7001): summed log-probs U(-20, -5) (pair 4 set to z = (pi_c - ref_c) - (pi_r - ref_r) = 15.5 nats so hinge is 0; pair 5 has policy = reference), ORPO average log-probs U(-3, -0.1) with chosen[0] = -1e-4, (chosen, rejected)[1] = (-0.69, -0.70) around the log1mexp branch point -ln 2, (chosen, rejected)[2] = (-2.5, -0.3)",
        "policy_chosen_logps": "[6] summed response log-probs (policy, chosen); likewise policy_rejected_logps, reference_chosen_logps, reference_rejected_logps",
        "orpo_chosen_avg_logps": "[6] average per-token response log-probs (chosen); likewise orpo_rejected_avg_logps",
        "dpo_trl_call": "trl.DPOTrainer._compute_loss(model, inputs, return_outputs=False) on an object.__new__(DPOTrainer) with beta, loss_types=[type], loss_weights=[1.0], label_smoothing, f_divergence_type='reverse_kl', ld_alpha=None, use_weighting=False, precompute_ref_logps=True, aux_loss_enabled=False and a one-process accelerator; the model is a stub returning the log-probs as `log_probs` of one completion token per row (so ipo's completion-token count is 1 and the inputs are used as given). trl 1.16 has no DPOTrainer.dpo_loss; the loss is inline in _compute_loss",
        "dpo_losses": "dpo_<type>_losses [6]: the per-pair loss, one _compute_loss call per pair (its mean over one pair); a call on all 6 pairs gives their mean",
        "dpo_rewards": "dpo_<type>_chosen_rewards / _rejected_rewards [6]: TRL's logged rewards/chosen = beta * (pi_c - ref_c), rewards/rejected = beta * (pi_r - ref_r), per pair",
        "dpo_sigmoid": "-logsigmoid(beta * z), z = (pi_c - ref_c) - (pi_r - ref_r)",
        "dpo_hinge": "relu(1 - beta * z)",
        "dpo_ipo": "(z' - 1 / (2 beta))^2 with z' = (pi_c - ref_c) / n_c - (pi_r - ref_r) / n_r; TRL divides by the completion token counts n (completion_mask.sum(1).clamp(min=1)) itself; here n = 1, so the stored log-probs are used as given (the Swift caller divides by token counts before its loss)",
        "dpo_sigmoid_ls0.1": "label_smoothing 0.1: trl 1.16's sigmoid ignores label_smoothing (asserted: equal to the ls 0 entry), so these are trl 0.19.1 DPOTrainer.dpo_loss's sigmoid branch, transcribed in cdpo_sigmoid_trl019: -(1 - e) logsigmoid(beta z) - e logsigmoid(-beta z), z computed as (pi_c - pi_r) - (ref_c - ref_r); checked to agree with trl 1.16 at e = 0, and once, outside this script, bit-identical to trl 0.19.1's dpo_loss itself (its source executed from the wheel) for sigmoid e = 0 and 0.1, hinge and ipo",
        "orpo_trl_call": "trl.experimental.orpo.ORPOTrainer.odds_ratio_loss(policy_chosen_logps, policy_rejected_logps) on an object.__new__(ORPOTrainer) with beta=0.1 and a one-process accelerator; log1mexp from trl.experimental.orpo.orpo_trainer",
        "orpo_losses": "[6] TRL's `losses` = beta * logsigmoid(log_odds) (<= 0; the trainer's loss is nll - mean(losses)); log_odds = (a_c - a_r) - (log1mexp(a_c) - log1mexp(a_r))",
        "log1mexp": "trl: torch.where(x < -0.6931471805599453, log1p(-exp(x)), log(-expm1(x)))",
        "orpo_rewards": "orpo_chosen_rewards / orpo_rejected_rewards [6]: beta * average log-prob (a_c, a_r)",
        "orpo_log_odds_ratio": "[1] mean over pairs of logsigmoid(log_odds) (without beta)",
        "orpo_log_odds_chosen": "[1] mean over pairs of log_odds",
        "orpo_log_odds": "[6] per-pair log_odds (odds_ratio_loss called on each pair alone, its 5th output)",
        "orpo_log1mexp": "orpo_log1mexp_chosen / _rejected [6]: trl's log1mexp of the average log-probs",
        "B": "tiny Mistral gradients: Tests/Fixtures/tiny-mistral (bf16 shards loaded as float32, eager attention, train mode, dropout 0) + peft LoRA (r=4, lora_alpha=8, dropout 0, all seven projections); data Tests/Fixtures/tiny-mistral-pairs.jsonl (2 pairs, last assistant message of message lists)",
        "tokenization": "prompt = sp.encode('[INST] {system}\\n{prompt} [/INST]', add_bos=True); response = sp.encode(text) + [EOS=2]; assets/mistral/tokenizer.model",
        "pair_input_ids": "[4, L] the batch rows chosen_0, chosen_1, rejected_0, rejected_1 (prompt + response), right-padded with id 0, float32",
        "pair_tokens": "pair_prompt_tokens [2] (BOS included; chosen and rejected share the prompt), pair_chosen_tokens [2], pair_rejected_tokens [2] (response tokens, EOS included)",
        "init": "init.<PEFT state-dict name>: lora_A U(-1/sqrt(in), 1/sqrt(in)), lora_B normal(0, 0.1), from the generator after part A, in named_parameters order",
        "logps": "sum over response tokens (EOS included) of log_softmax(logits[t-1])[id_t], one forward of the 4 rows without attention mask (right padding under causal attention; asserted equal to the masked forward)",
        "dpo_policy_logps": "[4] c0, c1, r0, r1 with the adapter; dpo_reference_logps [4] the same with model.disable_adapter() under no_grad",
        "dpo_loss": "[1] DPO sigmoid, beta 0.1, label_smoothing 0: mean over the 2 pairs; through DPOTrainer._compute_loss with the log-probs above (precomputed reference); also checked end to end against _compute_loss on the PEFT model with TRL's fused LM head and adapter-disabled reference",
        "dpo_grad": "dpo_grad.<name>: d dpo_loss / d adapter tensor",
        "dpo_metrics": f"[{len(DPO_METRICS)}] TRL's logged metrics of that step, in the order {DPO_METRICS} (means over the 2 pairs; logps are summed log-probs)",
        "orpo_metrics": f"[{len(ORPO_METRICS)}] TRL's ORPO metrics of that step, in the order {ORPO_METRICS} (means over the 2 pairs; logps are average log-probs, rewards beta * average log-prob)",
        "orpo_loss": "[1] ORPOTrainer.get_batch_loss_metrics(model, batch): policy_nll_loss - mean(beta * logsigmoid(log_odds)), log odds from response-token average log-probs; orpo_grad.<name> its gradients",
        "orpo_nll": "[1] TRL's policy_nll_loss: nn.CrossEntropyLoss (token mean) over every shifted non-padding token of both chosen rows together (prompt tokens after BOS and response tokens)",
        "orpo_policy_avg_logps": "[4] c0, c1, r0, r1 average response log-probs with the adapter",
        "orpo_response_only": "orpo_nll_response_only [1]: token mean of -log p over the response tokens of both chosen rows; orpo_loss_response_only [1] = that - mean(TRL losses); orpo_ro_grad.<name> its gradients",
    })
    save("preference", tensors, meta)
    size = os.path.getsize(os.path.join(OUT_DIR, "preference.safetensors"))
    assert size < SHARD_LIMIT, f"preference.safetensors is {size} bytes, over 2 MiB"


class BFloat16Product(torch.autograd.Function):
    """Facet's bfloat16 compute of a frozen bfloat16 weight: x W^T with x rounded to bfloat16,
    products accumulated in float32 (bfloat16 x bfloat16 products are exact in float32), and
    the input gradient dY W with dY rounded to bfloat16. The weight gets no gradient."""

    @staticmethod
    def forward(ctx, x, weight):
        ctx.save_for_backward(weight)
        return x.to(torch.bfloat16).float() @ weight.float().t()

    @staticmethod
    def backward(ctx, dy):
        (weight,) = ctx.saved_tensors
        return dy.to(torch.bfloat16).float() @ weight.float(), None


class BFloat16Attention(torch.autograd.Function):
    """Facet's attention under bfloat16 compute: every block product in bfloat16 x bfloat16 ->
    float32 (Q, K, V, the probabilities, dOut and the score gradients rounded to bfloat16 where
    they enter a product), the scores, softmax, the correction term dOut . out and every sum in
    float32. q, k, v: [b, heads, tokens, d] (keys and values repeated per query head);
    mask: additive [b, 1, tq, tk] or None."""

    @staticmethod
    def forward(ctx, q, k, v, mask, scale):
        scores = (bfloat16_values(q) @ bfloat16_values(k).transpose(-1, -2)) * scale
        if mask is not None:
            scores = scores + mask
        p = torch.softmax(scores, dim=-1)
        out = bfloat16_values(p) @ bfloat16_values(v)
        ctx.save_for_backward(q, k, v, p, out)
        ctx.scale = scale
        return out

    @staticmethod
    def backward(ctx, dout):
        q, k, v, p, out = ctx.saved_tensors
        row_dot = (dout * out).sum(-1, keepdim=True)
        dp = bfloat16_values(dout) @ bfloat16_values(v).transpose(-1, -2)
        ds = bfloat16_values(p * (dp - row_dot) * ctx.scale)
        dq = ds @ bfloat16_values(k)
        dk = ds.transpose(-1, -2) @ bfloat16_values(q)
        dv = bfloat16_values(p).transpose(-1, -2) @ bfloat16_values(dout)
        return dq, dk, dv, None, None


def bfloat16_values(x):
    return x.to(torch.bfloat16).float()


def bfloat16_eager_attention(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
    """transformers' eager_attention_forward with BFloat16Attention's arithmetic."""
    assert attention_mask is None or attention_mask.dtype == torch.float32, "an additive float mask"
    key_states = repeat_kv(key, module.num_key_value_groups)
    value_states = repeat_kv(value, module.num_key_value_groups)
    out = BFloat16Attention.apply(query, key_states, value_states, attention_mask, scaling)
    return out.transpose(1, 2).contiguous(), None


def make_bf16_compute():
    """LoRA step-0 loss and gradients of the lora_training group's adapter (same init) with the
    frozen weights multiplied in bfloat16: (1) exactly as Facet does it (BFloat16Product on every
    frozen projection and the LM head, attention's products as BFloat16Attention, everything
    else float32), (2) under PyTorch's CPU autocast to bfloat16 (which also runs the adapters
    and the LM head's outputs in bfloat16)."""
    import transformers.models.mistral.modeling_mistral as modeling_mistral

    import sentencepiece

    sp = sentencepiece.SentencePieceProcessor(model_file=TOKENIZER_MODEL)
    with open(os.path.join(FIXTURES, "tiny-mistral-eval.jsonl"), encoding="utf-8") as f:
        records = [json.loads(line) for line in f]
    input_ids, labels, attention_mask = sft_batch(sp, records)
    init = load_file(os.path.join(OUT_DIR, "lora_sft.safetensors"))
    tensors = {}

    def prepared():
        model, _ = lora_model()
        named = lora_parameters(model)
        with torch.no_grad():
            for name, p in named:
                p.copy_(init[f"grad0_init.{name}"])
        return model, named

    model, named = prepared()
    for module in model.modules():
        if hasattr(module, "base_layer") and isinstance(module.base_layer, torch.nn.Linear):
            weight = module.base_layer.weight
            assert torch.equal(weight, weight.to(torch.bfloat16).float()), "the tiny model's weights are bfloat16 values"
            module.base_layer.forward = lambda x, w=weight: BFloat16Product.apply(x, w)
    head = model.base_model.model.lm_head
    head.forward = lambda x, w=head.weight: BFloat16Product.apply(x, w)
    eager = modeling_mistral.eager_attention_forward
    modeling_mistral.eager_attention_forward = bfloat16_eager_attention
    try:
        loss = sft_loss(model, input_ids, labels, attention_mask)
    finally:
        modeling_mistral.eager_attention_forward = eager
    loss.backward()
    tensors["exact_loss"] = loss.detach().reshape(1)
    for name, p in named:
        tensors[f"exact_grad.{name}"] = p.grad.detach().clone()

    model, named = prepared()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels)
    loss = out.loss.float()
    loss.backward()
    tensors["autocast_loss"] = loss.detach().reshape(1)
    for name, p in named:
        tensors[f"autocast_grad.{name}"] = p.grad.detach().clone()
    print(f"bf16 compute: exact {tensors['exact_loss'].item():.6f}, autocast {tensors['autocast_loss'].item():.6f}, "
          f"float32 {init['grad0_loss'].item():.6f}")
    save("bf16_compute", tensors, {
        "exact_loss": "[1] loss with every frozen projection and the LM head as BFloat16Product and attention as BFloat16Attention; exact_grad.<name> the adapters' gradients",
        "autocast_loss": "[1] loss under torch.autocast('cpu', dtype=torch.bfloat16); autocast_grad.<name> the adapters' gradients",
    })


# ---------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------- #
#                              Repetition penalty                              #
# ---------------------------------------------------------------------------- #


def make_repetition_penalty():
    """One generation step's logits before and after transformers'
    RepetitionPenaltyLogitsProcessor, over prompt + generated ids that repeat some tokens,
    at the paper's penalty (1.03) and a strong one (1.5)."""
    from transformers.generation.logits_process import RepetitionPenaltyLogitsProcessor

    gen = generator(8001)
    vocab = 40
    logits = randn(gen, 1, vocab) * 3
    ids = torch.tensor([[1, 5, 7, 5, 12, 30, 7, 39, 0, 22, 5]])
    tensors = {"logits": logits[0], "ids": ids[0].float()}
    for name, penalty in (("penalized_1_03", 1.03), ("penalized_1_5", 1.5)):
        out = RepetitionPenaltyLogitsProcessor(penalty=penalty)(ids, logits.clone())
        tensors[name] = out[0]
    save("repetition_penalty", tensors, {"penalties": "1.03,1.5"})


GROUPS = ["rmsnorm", "rope", "attention", "cross_entropy", "tiny_mistral", "lora_training", "preference", "bf16_compute", "repetition_penalty"]
STAGE_GROUPS = ["stacked_adapters", "full_dpo", "chatml", "orpo_sequence", "reward"]  # in golden_stages.py


def main():
    """Runs the groups named on the command line (all of them without arguments)."""
    import golden_stages

    groups = sys.argv[1:] or GROUPS + STAGE_GROUPS
    unknown = [name for name in groups if name not in GROUPS + STAGE_GROUPS]
    if unknown:
        sys.exit(f"unknown group(s) {unknown}; groups: {GROUPS + STAGE_GROUPS}")
    check_versions()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    with torch.device("cpu"):
        for name in groups:
            make = globals().get(f"make_{name}") or getattr(golden_stages, f"make_{name}")
            make()


if __name__ == "__main__":
    sys.modules.setdefault("make_golden", sys.modules["__main__"])
    main()

#!/usr/bin/env python3
"""Golden fixtures from PyTorch / transformers for the Swift tests (DESIGN.md section 11).

Run from the repository root:

    python Tests/Fixtures/make_golden.py

Pinned versions this script was run with (CPU, float32), pip install:

    torch==2.15.0            (the wheel reports 2.15.0+cu132; run on CPU only)
    transformers==5.24.0
    safetensors==0.8.0
    numpy==2.3.5

Every file lands in Tests/Fixtures/golden/ as float32 safetensors. Each file's
`__metadata__` records the versions it was made with and the scalar parameters of
the case (eps, theta, sliding window, ...), all as strings. The outputs are
committed with this script; the Swift tests never need Python.

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
`make_<group>()` that calls `save(name, tensors, meta)` and call it from `main()`.
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


def main():
    check_versions()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    with torch.device("cpu"):
        make_rmsnorm()
        make_rope()
        make_attention()
        make_cross_entropy()


if __name__ == "__main__":
    main()

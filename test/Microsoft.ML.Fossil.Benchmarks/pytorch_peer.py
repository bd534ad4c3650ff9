#!/usr/bin/env python3
"""The PyTorch peer of the benchmark suite (docs/benchmarks.md): training steps of a plain-PyTorch BERT-shaped
all-MiniLM-L6-v2 (6 layers x 384, 12 heads, FFN 1536, GELU, 30522 tokens) in the configurations the C# suite times,
with and without bf16 autocast (what Hugging Face's run_glue --bf16 does on a CPU).

Written out module by module the way Hugging Face's BertModel computes in torch 1.13 (eager attention: matmul, softmax,
dropout, matmul), with MiSS (FOSSIL) r=64 on query and value written as PEFT's MissLinear computes its default variant:
    result = base_layer(x) + sum(x.reshape(..., in // r, r), dim=-2) @ miss_block      (miss_block [r, out], fp32)
The frozen backbone holds fp32 weights; under autocast its linear layers, matmuls and the MiSS product run in bf16.
The step: forward, cross-entropy in fp32, backward, gradient clipping at 1.0, AdamW (lr 5e-4) - as TrainingLoop.Run.

Configurations: "floor" (head and the embeddings' LayerNorm train: backward runs through every layer to the
embeddings, the least any adapter on every layer pays) and "fossil" (MiSS r=64 on query/value, head trained).
Random weights and random token ids without padding: the timing does not depend on them.

Not run by CI. Needs torch (Debian: apt-get install -y python3-torch, torch 1.13). The C# runner starts it with
--pytorch-peer, at its training shapes and thread count, right after its own training steps; it can also run alone:
    python3 pytorch_peer.py --batch 32 --seq 64 --configs floor,fossil --precisions fp32,bf16 --warmup 1 --steps 3
It prints one JSON object per (configuration, precision) on stdout, or writes them to --json.
"""
import argparse
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

HIDDEN, LAYERS, HEADS, FFN, VOCAB, POSITIONS, TYPES, EPS, DROPOUT = 384, 6, 12, 1536, 30522, 512, 2, 1e-12, 0.1
RANK = 64


class MissLinear(nn.Module):
    """PEFT's MissLinear, default variant: y = W x + b + (sum of the r-wide chunks of x) @ D, D [r, out] from zero."""

    def __init__(self, base_layer: nn.Linear, r: int):
        super().__init__()
        self.base_layer = base_layer
        self.r = r
        self.miss_block = nn.Parameter(torch.zeros(r, base_layer.out_features))

    def forward(self, x):
        previous_dtype = x.dtype
        result = self.base_layer(x)
        r = self.r
        if x.size(-1) % r != 0:
            x = F.pad(x, (0, (r - x.size(-1) % r) % r))
        x = x.to(self.miss_block.dtype)   # PEFT's _cast_input_dtype
        result = result + torch.sum(x.reshape(*x.shape[:-1], x.size(-1) // r, r), dim=-2) @ self.miss_block
        return result.to(previous_dtype)


class SelfAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.query, self.key, self.value = nn.Linear(HIDDEN, HIDDEN), nn.Linear(HIDDEN, HIDDEN), nn.Linear(HIDDEN, HIDDEN)
        self.dropout = nn.Dropout(DROPOUT)
        self.head_size = HIDDEN // HEADS

    def split(self, t):
        return t.view(t.size(0), t.size(1), HEADS, self.head_size).permute(0, 2, 1, 3)

    def forward(self, hidden, additive_mask):
        q, k, v = self.split(self.query(hidden)), self.split(self.key(hidden)), self.split(self.value(hidden))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_size) + additive_mask
        probabilities = self.dropout(F.softmax(scores, dim=-1))
        context = torch.matmul(probabilities, v).permute(0, 2, 1, 3).contiguous()
        return context.view(context.size(0), context.size(1), HIDDEN)


class Layer(nn.Module):
    def __init__(self):
        super().__init__()
        self.attention = SelfAttention()
        self.attention_output = nn.Linear(HIDDEN, HIDDEN)
        self.attention_norm = nn.LayerNorm(HIDDEN, eps=EPS)
        self.intermediate = nn.Linear(HIDDEN, FFN)
        self.output = nn.Linear(FFN, HIDDEN)
        self.output_norm = nn.LayerNorm(HIDDEN, eps=EPS)
        self.dropout = nn.Dropout(DROPOUT)

    def forward(self, hidden, additive_mask):
        attended = self.attention_norm(self.dropout(self.attention_output(self.attention(hidden, additive_mask))) + hidden)
        return self.output_norm(self.dropout(self.output(F.gelu(self.intermediate(attended)))) + attended)


class MiniLmClassifier(nn.Module):
    """The encoder with sentence-transformers' mean pooling and a linear head (what the C# trainer builds for MiniLM)."""

    def __init__(self, labels=2):
        super().__init__()
        self.word, self.position, self.token_type = nn.Embedding(VOCAB, HIDDEN), nn.Embedding(POSITIONS, HIDDEN), nn.Embedding(TYPES, HIDDEN)
        self.embeddings_norm = nn.LayerNorm(HIDDEN, eps=EPS)
        self.dropout = nn.Dropout(DROPOUT)
        self.layers = nn.ModuleList([Layer() for _ in range(LAYERS)])
        self.classifier = nn.Linear(HIDDEN, labels)

    def forward(self, ids, types, mask):
        positions = torch.arange(ids.size(1)).unsqueeze(0)
        hidden = self.dropout(self.embeddings_norm(self.word(ids) + self.position(positions) + self.token_type(types)))
        # Hugging Face's extended mask: 0 for tokens, the dtype's lowest value for padding.
        additive = (1.0 - mask[:, None, None, :].to(hidden.dtype)) * torch.finfo(hidden.dtype).min
        for layer in self.layers:
            hidden = layer(hidden, additive)
        m = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * m).sum(1) / m.sum(1).clamp_min(1e-9)
        return self.classifier(self.dropout(pooled))


def build(config):
    torch.manual_seed(1)
    model = MiniLmClassifier()
    for p in model.parameters():
        p.requires_grad_(False)
    if config == "fossil":
        for layer in model.layers:
            layer.attention.query = MissLinear(layer.attention.query, RANK)
            layer.attention.value = MissLinear(layer.attention.value, RANK)
    elif config == "floor":
        for p in model.embeddings_norm.parameters():
            p.requires_grad_(True)
    else:
        raise SystemExit(f"unknown configuration {config!r} (floor, fossil)")
    for p in model.classifier.parameters():
        p.requires_grad_(True)
    trainable = [p for p in model.parameters() if p.requires_grad]
    return model, trainable, torch.optim.AdamW(trainable, lr=5e-4, weight_decay=0.01)


def step(model, trainable, optimizer, batch, bf16):
    ids, types, mask, labels = batch
    model.train()
    start = time.perf_counter()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        logits = model(ids, types, mask)
    loss = F.cross_entropy(logits.float(), labels)
    loss.item()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(trainable, 1.0)
    optimizer.step()
    return (time.perf_counter() - start) * 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq", type=int, default=64)
    parser.add_argument("--configs", default="floor,fossil")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    parser.add_argument("--json", help="write the results here instead of stdout")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(2)
    ids = torch.randint(1000, VOCAB, (args.batch, args.seq), generator=generator)
    batch = (ids, torch.zeros_like(ids), torch.ones_like(ids), torch.arange(args.batch) % 2)
    runners = []
    for precision in args.precisions.split(","):
        if precision not in ("fp32", "bf16"):
            raise SystemExit(f"unknown precision {precision!r} (fp32, bf16)")
        for config in args.configs.split(","):
            runners.append((config, precision) + build(config))
    times = {(c, p): [] for c, p, *_ in runners}
    # Interleaved: one step of each runner per round, the order rotated, so background load falls on all of them.
    for round_ in range(args.warmup + args.steps):
        for i in range(len(runners)):
            config, precision, model, trainable, optimizer = runners[(i + round_) % len(runners)]
            ms = step(model, trainable, optimizer, batch, precision == "bf16")
            if round_ >= args.warmup:
                times[(config, precision)].append(ms)
            print(f"[pytorch {config} {precision} {args.batch}x{args.seq}] round {round_ + 1}: {ms:.0f} ms", file=sys.stderr)
    results = [{"model": "minilm", "config": c, "precision": p, "batch": args.batch, "sequence": args.seq, "step_ms": t,
                "torch": torch.__version__, "threads": torch.get_num_threads()} for (c, p), t in times.items()]
    text = json.dumps(results, indent=2)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text)
    else:
        print(text)


if __name__ == "__main__":
    main()

"""Train a small decoder-only transformer (GPT) on characters of a text, then sample from it.

    python -m lamina.examples.gpt [TEXT] [--steps 400] [--out gpt_run] [--resume]
                                  [--sample 300 --temperature 0.8 --top-k 20 --prompt "The "]

Token + learned position embeddings, pre-norm blocks (causal F.scaled_dot_product_attention, GELU
MLP), the output head tied to the token embedding; AdamW with warm-up and cosine decay, gradient
clipping. Generation keeps a key/value cache per layer, so each new token costs O(T), not O(T^2).
TEXT defaults to the Python reference manual's help topics, which ship with CPython (see _lm.py).
"""

import math

import lamina
import lamina.nn as nn
import lamina.nn.functional as F
from lamina.examples import _lm


class KVCache:
    """Keys and values of the tokens seen so far, (B, heads, S, head_dim) per layer, and the tokens."""

    def __init__(self, n_layers):
        self.layers = [None] * n_layers
        self.tokens = None

    def __len__(self):
        return 0 if self.tokens is None else self.tokens.shape[1]


class CausalSelfAttention(nn.Module):
    def __init__(self, d_model, n_heads):
        super().__init__()
        self.n_heads = n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)

    def forward(self, x, past=None):
        """x (B, T, C) -> (B, T, C) and this layer's (keys, values) including past ones."""
        B, T, C = x.shape
        q, k, v = (t.reshape(B, T, self.n_heads, C // self.n_heads).transpose(1, 2)
                   for t in self.qkv(x).split(C, dim=2))
        if past is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            k, v = lamina.cat([past[0], k], dim=2), lamina.cat([past[1], v], dim=2)
            # New query i sits at position S - T + i and sees keys up to it (T == 1: all of them).
            mask = None if T == 1 else lamina.ones(T, k.shape[2], dtype=lamina.bool).tril(k.shape[2] - T)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.proj(y.transpose(1, 2).reshape(B, T, C)), (k, v)


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, d_model, n_heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = CausalSelfAttention(d_model, n_heads)
        self.ln2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model))

    def forward(self, x, past=None):
        a, present = self.attn(self.ln1(x), past)
        x = x + a
        return x + self.mlp(self.ln2(x)), present


class GPT(nn.Module):
    """Character-level GPT: (B, T) token ids -> (B, T, vocab_size) next-token logits, T <= block_size."""

    def __init__(self, vocab_size, n_layers=4, d_model=256, n_heads=4, block_size=128):
        super().__init__()
        self.block_size = block_size
        self.tok_emb = nn.Embedding(vocab_size, d_model)
        self.pos_emb = nn.Embedding(block_size, d_model)
        self.blocks = nn.ModuleList([Block(d_model, n_heads) for _ in range(n_layers)])
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size, bias=False)
        self.head.weight = self.tok_emb.weight  # weight tying
        for name, p in self.named_parameters():
            if p.dim() >= 2:
                # GPT-2 init: residual projections shrink with depth so the stream's variance stays put.
                std = 0.02 / math.sqrt(2 * n_layers) if name.endswith(("proj.weight", "mlp.2.weight")) else 0.02
                nn.init.normal_(p, 0.0, std)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def forward(self, idx, cache=None):
        """Logits for idx; with a KVCache, idx continues the cached tokens and the cache grows."""
        B, T = idx.shape
        past_len = 0 if cache is None else len(cache)
        if past_len + T > self.block_size:
            raise ValueError(f"GPT: {past_len} cached + {T} new tokens exceed block_size {self.block_size}")
        x = self.tok_emb(idx) + self.pos_emb(lamina.arange(past_len, past_len + T))
        for i, block in enumerate(self.blocks):
            past = cache.layers[i] if past_len else None
            x, present = block(x, past)
            if cache is not None:
                cache.layers[i] = present
        if cache is not None:
            cache.tokens = idx if cache.tokens is None else lamina.cat([cache.tokens, idx], dim=1)
        return self.head(self.ln_f(x))

    def advance(self, idx, cache=None):
        """(logits for idx, cache) continuing the tokens in cache (None: a fresh one)."""
        cache = KVCache(len(self.blocks)) if cache is None else cache
        if len(cache) + idx.shape[1] > self.block_size:
            # Positions stop at block_size: restart from the last half window (one re-encode every
            # block_size / 2 tokens, so generation stays O(T) per token on average).
            tokens = idx if cache.tokens is None else lamina.cat([cache.tokens, idx], dim=1)
            keep = min(self.block_size, max(idx.shape[1], self.block_size // 2))
            idx, cache = tokens[:, -keep:], KVCache(len(self.blocks))
            return self(idx, cache)[:, -1:], cache
        return self(idx, cache), cache


def main(argv=None):
    parser = _lm.parser_for(__doc__)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--d-model", type=int, default=256)
    parser.add_argument("--heads", type=int, default=4)
    _lm.add_arguments(parser, steps=400, batch_size=16, block_size=128, lr=2e-3, warmup=50, eval_every=100,
                      out="gpt_run")
    args = parser.parse_args(argv)
    config = dict(n_layers=args.layers, d_model=args.d_model, n_heads=args.heads, block_size=args.block_size)
    return _lm.run(args, "gpt", GPT, config)


if __name__ == "__main__":
    main()

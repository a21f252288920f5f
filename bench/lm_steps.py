"""Language-model training steps and generation, lamina vs PyTorch, each library in its own process.

    python bench/lm_steps.py [--threads 1 2] [--reps 5] [--steps 10] [--gen-tokens 128]
    PYTHONPATH=python python bench/lm_steps.py --check      (the two models compute the same logits)

Cases: a full training step (forward, cross-entropy, backward, gradient clipping, AdamW step) of the
GPT of lamina/examples/gpt.py (4 layers, d_model 256, 4 heads, context 128, batch 16) and of the
char-LSTM of lamina/examples/char_lstm.py (embedding 64, 2 layers of 256, context 64, batch 32), both
on a 103-character vocabulary; and GPT generation with the key/value cache (tokens/s, batch 1, from a
1-token prompt, sampling at temperature 1). lamina runs the example classes; PyTorch runs the same
architectures written here with the same parameter names (--check loads lamina's weights into them).
The driver spawns `--lib lamina` and `--lib torch` workers alternately, `--reps` times per thread
count (torch with OMP_WAIT_POLICY=PASSIVE, so its idle OpenMP threads sleep instead of spinning),
and reports the median over workers of each worker's median, and the ratio lamina / torch (below 1:
lamina faster). Never run it beside a build or a test suite: on 2 cores the timings mean nothing.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

VOCAB = 103
GPT_CONFIG = dict(n_layers=4, d_model=256, n_heads=4, block_size=128)
GPT_BATCH = 16
LSTM_CONFIG = dict(embed_dim=64, hidden_size=256, num_layers=2)
LSTM_BATCH, LSTM_BLOCK = 32, 64


def torch_models():
    """PyTorch twins of the example models (same parameter names and forward math)."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class CausalSelfAttention(nn.Module):
        def __init__(self, d_model, n_heads):
            super().__init__()
            self.n_heads = n_heads
            self.qkv = nn.Linear(d_model, 3 * d_model)
            self.proj = nn.Linear(d_model, d_model)

        def forward(self, x, past=None):
            B, T, C = x.shape
            q, k, v = (t.reshape(B, T, self.n_heads, C // self.n_heads).transpose(1, 2)
                       for t in self.qkv(x).split(C, dim=2))
            if past is None:
                y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            else:  # one new token (all this bench generates) sees every cached key
                k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
                y = F.scaled_dot_product_attention(q, k, v)
            return self.proj(y.transpose(1, 2).reshape(B, T, C)), (k, v)

    class Block(nn.Module):
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
        def __init__(self, vocab_size, n_layers, d_model, n_heads, block_size):
            super().__init__()
            self.block_size = block_size
            self.tok_emb = nn.Embedding(vocab_size, d_model)
            self.pos_emb = nn.Embedding(block_size, d_model)
            self.blocks = nn.ModuleList([Block(d_model, n_heads) for _ in range(n_layers)])
            self.ln_f = nn.LayerNorm(d_model)
            self.head = nn.Linear(d_model, vocab_size, bias=False)
            self.head.weight = self.tok_emb.weight

        def forward(self, idx, cache=None):
            """cache: None, or a list with one (keys, values) or None per layer, updated in place."""
            past_len = 0 if cache is None or cache[0] is None else cache[0][0].shape[2]
            x = self.tok_emb(idx) + self.pos_emb(torch.arange(past_len, past_len + idx.shape[1]))
            for i, block in enumerate(self.blocks):
                x, present = block(x, None if cache is None else cache[i])
                if cache is not None:
                    cache[i] = present
            return self.head(self.ln_f(x))

    class CharLSTM(nn.Module):
        def __init__(self, vocab_size, embed_dim, hidden_size, num_layers):
            super().__init__()
            self.embed = nn.Embedding(vocab_size, embed_dim)
            self.lstm = nn.LSTM(embed_dim, hidden_size, num_layers, batch_first=True)
            self.head = nn.Linear(hidden_size, vocab_size)

        def forward(self, idx):
            return self.head(self.lstm(self.embed(idx))[0])

    return GPT, CharLSTM


def build(lib_name):
    """(lib, GPT model, CharLSTM model, generate(model, n) -> None) for lamina or torch."""
    if lib_name == "lamina":
        import lamina as lib
        from lamina.examples import _lm
        from lamina.examples.char_lstm import CharLSTM
        from lamina.examples.gpt import GPT

        def generate(model, n):
            _lm.generate(model, [0], n, temperature=1.0)
    else:
        import torch as lib
        GPT, CharLSTM = torch_models()

        def generate(model, n):
            g = lib.Generator().manual_seed(0)
            model.eval()
            with lib.no_grad():
                cache = [None] * len(model.blocks)
                logits = model(lib.zeros(1, 1, dtype=lib.int64), cache)
                for _ in range(n - 1):
                    token = lib.multinomial(lib.softmax(logits[:, -1], dim=-1), 1, generator=g)
                    logits = model(token, cache)
            model.train()
    lib.manual_seed(0)
    return lib, GPT(VOCAB, **GPT_CONFIG), CharLSTM(VOCAB, **LSTM_CONFIG), generate


def training_step(lib, model, batch, block, rng):
    """A zero-argument full training step on fixed random token windows."""
    F = lib.nn.functional
    x = lib.from_numpy(rng.integers(0, VOCAB, (batch, block)).astype(np.int64))
    y = lib.from_numpy(rng.integers(0, VOCAB, (batch, block)).astype(np.int64))
    optimizer = lib.optim.AdamW(model.parameters(), lr=1e-3)

    def step():
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        lib.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    return step


def median_seconds(fn, repeats, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def worker(args):
    """One library's timings in this process, as one JSON line on stdout."""
    lib, gpt, lstm, generate = build(args.lib)
    lib.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    gpt_step = training_step(lib, gpt, GPT_BATCH, GPT_CONFIG["block_size"], rng)
    lstm_step = training_step(lib, lstm, LSTM_BATCH, LSTM_BLOCK, rng)
    n = args.gen_tokens
    result = {
        "gpt_step_ms": 1e3 * median_seconds(gpt_step, args.steps),
        "lstm_step_ms": 1e3 * median_seconds(lstm_step, args.steps),
        "gpt_gen_tokens_per_s": n / median_seconds(lambda: generate(gpt, n), 3, warmup=1),
    }
    print(json.dumps(result))


def check():
    """lamina's example GPT and CharLSTM and the PyTorch twins give the same logits for the same
    weights, and the KV-cache generation path agrees with the full forward pass."""
    import torch

    import lamina
    _, lgpt, llstm, _ = build("lamina")
    TGPT, TLSTM = torch_models()
    tgpt, tlstm = TGPT(VOCAB, **GPT_CONFIG), TLSTM(VOCAB, **LSTM_CONFIG)
    for lm, tm in ((lgpt, tgpt), (llstm, tlstm)):
        tm.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in lm.state_dict().items()})
        lm.eval(), tm.eval()
    idx = np.random.default_rng(0).integers(0, VOCAB, (2, 100)).astype(np.int64)
    for name, lm, tm in (("gpt", lgpt, tgpt), ("char_lstm", llstm, tlstm)):
        with lamina.no_grad(), torch.no_grad():
            a = lm(lamina.from_numpy(idx)).numpy()
            b = tm(torch.from_numpy(idx)).numpy()
        print(f"{name}: max |lamina - torch| logits {np.abs(a - b).max():.2e}")
    with torch.no_grad():
        cache, full = [None] * len(tgpt.blocks), tgpt(torch.from_numpy(idx[:1, :20])).numpy()
        steps = [tgpt(torch.from_numpy(idx[:1, i:i + 1]), cache).numpy() for i in range(20)]
    print(f"torch twin: cached vs full logits {np.abs(np.concatenate(steps, 1) - full).max():.2e}")


def driver(args):
    here = os.path.abspath(__file__)
    keys = ("gpt_step_ms", "lstm_step_ms", "gpt_gen_tokens_per_s")
    print(f"GPT {GPT_CONFIG} batch {GPT_BATCH}; char-LSTM {LSTM_CONFIG} context {LSTM_BLOCK} batch "
          f"{LSTM_BATCH}; vocab {VOCAB}; {args.reps} workers per library and thread count, "
          f"{args.steps} timed steps each, generation of {args.gen_tokens} tokens")
    for threads in args.threads:
        results = {"lamina": [], "torch": []}
        for rep in range(args.reps):
            order = ("lamina", "torch") if rep % 2 == 0 else ("torch", "lamina")
            for lib in order:
                env = dict(os.environ, OMP_NUM_THREADS=str(threads))
                root = os.path.dirname(os.path.dirname(here))  # the source tree's lamina, as the docstring's command
                env["PYTHONPATH"] = os.path.join(root, "python") + os.pathsep + env.get("PYTHONPATH", "")
                if lib == "torch":
                    env["OMP_WAIT_POLICY"] = "PASSIVE"
                cmd = [sys.executable, here, "--lib", lib, "--threads", str(threads), "--steps", str(args.steps),
                       "--gen-tokens", str(args.gen_tokens)]
                out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
                results[lib].append(json.loads(out.strip().splitlines()[-1]))
        print(f"\nthreads={threads}")
        print(f"{'case':34s} {'lamina':>12s} {'PyTorch':>12s} {'time lamina/torch':>18s}")
        for key in keys:
            lt = statistics.median(r[key] for r in results["lamina"])
            tt = statistics.median(r[key] for r in results["torch"])
            # For tokens/s the time ratio is the inverse of the rate ratio.
            ratio = tt / lt if key.endswith("per_s") else lt / tt
            print(f"{key:34s} {lt:12.1f} {tt:12.1f} {ratio:18.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lib", choices=["lamina", "torch"], help="(worker) time this library only")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--reps", type=int, default=5, help="workers per library and thread count")
    parser.add_argument("--steps", type=int, default=10, help="timed training steps per worker")
    # At most the context: past it lamina's example re-encodes a half window, the torch twin cannot.
    parser.add_argument("--gen-tokens", type=int, default=GPT_CONFIG["block_size"])
    parser.add_argument("--check", action="store_true", help="compare the lamina and torch models' logits")
    args = parser.parse_args()
    if args.gen_tokens > GPT_CONFIG["block_size"]:
        parser.error(f"--gen-tokens must be at most the context, {GPT_CONFIG['block_size']}")
    if args.check:
        check()
    elif args.lib:
        args.threads = args.threads[0]
        worker(args)
    else:
        driver(args)


if __name__ == "__main__":
    main()

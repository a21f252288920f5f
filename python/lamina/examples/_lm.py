"""What the character-level language-model examples (gpt.py, char_lstm.py) share: text loading and the
character vocabulary, random batches, the training loop (AdamW, linear warm-up then cosine decay,
gradient clipping, periodic validation beside the unigram baseline), checkpoint/resume and sampling.

A model plugs in with two methods: `forward(idx) -> logits` on (B, T) int64 token ids giving
(B, T, vocab) logits, and `advance(idx, state) -> (logits, state)`, which runs the new tokens idx after
the context that `state` summarizes (None: no context) and is what generation calls once per token.
Batches are drawn from a numpy generator seeded with (seed, step), so a resumed run sees the same
batches as an uninterrupted one.
"""

import argparse
import math
import os
import time

import numpy as np

import lamina
import lamina.nn.functional as F
from lamina.examples.digits import progress


def load_text(path=None):
    """The text of `path`, or by default the Python reference manual's topic help that ships with
    CPython itself (pydoc_data/topics.py: ~465k characters of English prose with code snippets)."""
    if path is None:
        from pydoc_data.topics import topics
        return "\n".join(topics[name] for name in sorted(topics))
    with open(path, encoding="utf-8") as f:
        return f.read()


class CharVocab:
    """One token per distinct character of a text, numbered in sorted order."""

    def __init__(self, chars):
        self.chars = "".join(sorted(set(chars)))
        self.index = {c: i for i, c in enumerate(self.chars)}

    def __len__(self):
        return len(self.chars)

    def encode(self, text):
        """(len(text),) int64 ids; raises ValueError naming characters the vocabulary lacks."""
        missing = sorted(set(text) - set(self.index))
        if missing:
            raise ValueError(f"characters not in the training text's vocabulary: {''.join(missing)!r}")
        return np.array([self.index[c] for c in text], dtype=np.int64)

    def decode(self, ids):
        return "".join(self.chars[int(i)] for i in ids)


def split_ids(ids, val_fraction=0.1):
    """(train, val): the first 1 - val_fraction of the ids, then the rest."""
    n = int(len(ids) * (1 - val_fraction))
    return ids[:n], ids[n:]


def unigram_baseline(train_ids, val_ids, vocab_size):
    """Cross-entropy in nats of the validation ids under the training text's character frequencies
    (add-one smoothed): what a model that ignores context scores. A real model must beat it."""
    counts = np.bincount(train_ids, minlength=vocab_size) + 1.0
    return float(-np.log(counts / counts.sum())[val_ids].mean())


def get_batch(ids, batch_size, block_size, rng):
    """x, y: (batch_size, block_size) int64 windows at random offsets, y shifted one ahead of x."""
    starts = rng.integers(0, len(ids) - block_size, batch_size)
    x = np.stack([ids[s:s + block_size] for s in starts])
    y = np.stack([ids[s + 1:s + 1 + block_size] for s in starts])
    return lamina.from_numpy(x), lamina.from_numpy(y)


def lm_loss(model, x, y):
    """Mean next-token cross-entropy (nats) of model on x against targets y."""
    logits = model(x)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


def lr_at(step, lr, warmup, total, min_ratio=0.1):
    """Learning rate at `step`: linear warm-up over `warmup` steps, then cosine down to min_ratio * lr."""
    if step < warmup:
        return lr * (step + 1) / warmup
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    return lr * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * t)))


def evaluate(model, ids, batch_size, block_size, batches, seed=1234):
    """Mean loss over `batches` fixed random batches of ids (the same ones every call)."""
    model.eval()
    rng = np.random.default_rng(seed)
    total = 0.0
    with lamina.no_grad():
        for _ in range(batches):
            total += lm_loss(model, *get_batch(ids, batch_size, block_size, rng)).item()
    model.train()
    return total / batches


def make_optimizer(model, lr, weight_decay):
    """AdamW decaying only matrices (linear and embedding weights), not biases or norm scales."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    rest = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]
    return lamina.optim.AdamW(groups, lr=lr, betas=(0.9, 0.99))


def sample_next(logits, temperature=1.0, top_k=None, generator=None):
    """(B, 1) next-token ids from (B, V) logits: greedy at temperature 0, else a draw from
    softmax(logits / temperature) restricted to the top_k most likely tokens when top_k is set."""
    if temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)
    logits = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = lamina.topk(logits, top_k, dim=-1)[0][:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return lamina.multinomial(F.softmax(logits, dim=-1), 1, generator=generator)


def generate(model, prompt_ids, length, temperature=1.0, top_k=None, seed=0):
    """`length` new token ids (a list) continuing prompt_ids (non-empty), one advance() per token."""
    generator = lamina.Generator().manual_seed(seed)
    model.eval()
    out = []
    with lamina.no_grad():
        logits, state = model.advance(lamina.from_numpy(np.asarray(prompt_ids, dtype=np.int64)[None]))
        for i in range(length):
            token = sample_next(logits[:, -1], temperature, top_k, generator)
            out.append(token.item())
            if i + 1 < length:
                logits, state = model.advance(token, state)
    model.train()
    return out


def add_arguments(parser, *, steps, batch_size, block_size, lr, warmup, eval_every, weight_decay=0.1,
                  out="lm_run"):
    """The command-line options every language-model example takes, with that example's defaults."""
    parser.add_argument("text", nargs="?", help="training text file (default: Python's pydoc_data/topics.py)")
    parser.add_argument("--steps", type=int, default=steps,
                        help="total optimizer steps (a resumed run goes on up to this count)")
    parser.add_argument("--batch-size", type=int, default=batch_size)
    parser.add_argument("--block-size", type=int, default=block_size, help="context length in characters")
    parser.add_argument("--lr", type=float, default=lr, help="peak learning rate")
    parser.add_argument("--warmup", type=int, default=warmup, help="linear warm-up steps")
    parser.add_argument("--weight-decay", type=float, default=weight_decay)
    parser.add_argument("--grad-clip", type=float, default=1.0, help="max gradient norm (0: off)")
    parser.add_argument("--eval-every", type=int, default=eval_every, help="steps between validations")
    parser.add_argument("--eval-batches", type=int, default=20)
    parser.add_argument("--out", default=out, help="folder for the checkpoint")
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    parser.add_argument("--sample", type=int, default=300, metavar="N", help="characters to generate")
    parser.add_argument("--prompt", default="\n", help="text the sample continues")
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--top-k", type=int, default=None, metavar="K")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true", help="plain lines instead of a tqdm bar")


def _log(bar, message):
    # tqdm.write keeps the bar intact below the line.
    (bar.write if hasattr(bar, "write") else print)(message)


def run(args, name, build_model, model_config):
    """Trains (or resumes) model `name`, checkpointing to args.out/name.safetensors, then prints a
    sample. build_model(vocab_size, **model_config) makes the model; a resumed run takes the
    vocabulary and model_config stored in the checkpoint. Returns a dict with the model, vocab,
    history (step, train loss, val loss per validation), unigram baseline, seconds and sample."""
    text = load_text(args.text)
    checkpoint = os.path.join(args.out, f"{name}.safetensors")
    state = lamina.load(checkpoint) if args.resume else None
    vocab = CharVocab(state["chars"] if state else text)
    if state:
        model_config = state["model_config"]
    train_ids, val_ids = split_ids(vocab.encode(text))
    lamina.manual_seed(args.seed)
    model = build_model(len(vocab), **model_config)
    optimizer = make_optimizer(model, args.lr, args.weight_decay)
    start_step, history = 0, []
    if state:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start_step, history = state["step"], list(state["history"])
        print(f"resumed {checkpoint} at step {start_step}")
    baseline = unigram_baseline(train_ids, val_ids, len(vocab))
    n_params = sum(p.numel() for p in model.parameters())
    print(f"{name}: {len(train_ids)} train / {len(val_ids)} val characters, vocabulary {len(vocab)}, "
          f"{n_params} parameters, {lamina.get_num_threads()} threads; unigram baseline {baseline:.3f} nats")

    def save(step):
        os.makedirs(args.out, exist_ok=True)
        lamina.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                     "history": history, "chars": vocab.chars, "model_config": dict(model_config)},
                    checkpoint)  # lamina.save writes a temp file and renames it: never half a checkpoint

    model.train()
    start = time.perf_counter()
    bar = progress(range(start_step, args.steps), name, not args.no_progress)
    for step in bar:
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, args.lr, args.warmup, args.steps)
        x, y = get_batch(train_ids, args.batch_size, args.block_size, np.random.default_rng([args.seed, step]))
        loss = lm_loss(model, x, y)
        optimizer.zero_grad()
        loss.backward()
        if args.grad_clip > 0:
            lamina.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        optimizer.step()
        done = step + 1
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{loss.item():.3f}")
        if done % args.eval_every == 0 or done == args.steps:
            val = evaluate(model, val_ids, args.batch_size, args.block_size, args.eval_batches)
            history.append((done, loss.item(), val))
            _log(bar, f"step {done:5d}/{args.steps}  train loss {loss.item():.4f}  val loss {val:.4f}  "
                      f"(unigram {baseline:.4f})  lr {optimizer.param_groups[0]['lr']:.2e}  "
                      f"{time.perf_counter() - start:.1f} s")
            save(done)
    seconds = time.perf_counter() - start
    if history and args.steps > start_step:
        print(f"final val loss {history[-1][2]:.4f} nats vs unigram baseline {baseline:.4f} "
              f"after {args.steps} steps ({seconds:.1f} s); checkpoint {checkpoint}")
    sample = None
    if args.sample > 0:
        prompt = args.prompt or vocab.chars[0]
        ids = generate(model, vocab.encode(prompt), args.sample, args.temperature, args.top_k, args.seed)
        sample = vocab.decode(ids)
        print(f"--- sample (temperature {args.temperature}, top-k {args.top_k}) ---")
        print(prompt + sample)
    return {"model": model, "vocab": vocab, "history": history, "baseline": baseline, "seconds": seconds,
            "sample": sample}


def parser_for(doc):
    """An ArgumentParser described by the first line of an example's docstring."""
    return argparse.ArgumentParser(description=doc.splitlines()[0])

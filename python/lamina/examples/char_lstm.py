"""Train a 2-layer character-level LSTM on a text, then sample from it.

    python -m lamina.examples.char_lstm [TEXT] [--steps 1500] [--out char_lstm_run] [--resume]
                                        [--sample 300 --temperature 0.8 --top-k 20 --prompt "The "]

Embedding -> nn.LSTM (2 layers, batch_first) -> linear head, trained with the same loop as the GPT
example (AdamW, warm-up + cosine decay, gradient clipping; see _lm.py). Generation carries the
LSTM's (h, c) from token to token, so each new token costs one step of the recurrence.
"""

import lamina.nn as nn
from lamina.examples import _lm


class CharLSTM(nn.Module):
    """(B, T) token ids -> (B, T, vocab_size) next-token logits."""

    def __init__(self, vocab_size, embed_dim=64, hidden_size=256, num_layers=2, dropout=0.0):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim)
        self.lstm = nn.LSTM(embed_dim, hidden_size, num_layers, batch_first=True, dropout=dropout)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, idx):
        return self.advance(idx)[0]

    def advance(self, idx, state=None):
        """(logits for idx, (h, c)) continuing from state (None: zeros)."""
        out, state = self.lstm(self.embed(idx), state)
        return self.head(out), state


def main(argv=None):
    parser = _lm.parser_for(__doc__)
    parser.add_argument("--embed-dim", type=int, default=64)
    parser.add_argument("--hidden-size", type=int, default=256)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--dropout", type=float, default=0.0, help="between the LSTM layers")
    _lm.add_arguments(parser, steps=1500, batch_size=32, block_size=64, lr=3e-3, warmup=50, eval_every=250,
                      weight_decay=0.0, out="char_lstm_run")
    args = parser.parse_args(argv)
    config = dict(embed_dim=args.embed_dim, hidden_size=args.hidden_size, num_layers=args.layers,
                  dropout=args.dropout)
    return _lm.run(args, "char_lstm", CharLSTM, config)


if __name__ == "__main__":
    main()

"""The examples run end to end (on a reduced epoch count)."""

import numpy as np
import pytest

import lamina


def test_quickstart_runs(capsys):
    from lamina.examples import quickstart
    quickstart.main()
    assert "max error vs closed form" in capsys.readouterr().out


def test_digits_trains_and_saves(tmp_path, capsys):
    pytest.importorskip("sklearn")
    from lamina.examples import digits
    history = digits.train(epochs=3, out=str(tmp_path), show_progress=False)
    # Three epochs already separate the digits well; the full run (15 epochs) reaches >= 97%.
    assert history["test_acc"][-1] > 0.9
    assert history["train_loss"][-1] < history["train_loss"][0]
    state = lamina.load(str(tmp_path / "digits.safetensors"))
    model = digits.DigitsNet()
    model.load_state_dict(state["model"])
    assert "epoch  3/3" in capsys.readouterr().out


def test_digits_logs_to_tensorboard(tmp_path, capsys):
    pytest.importorskip("sklearn")
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import (
        STORE_EVERYTHING_SIZE_GUIDANCE, EventAccumulator)

    from lamina.examples import digits
    logdir = tmp_path / "tb"
    digits.main(["--epochs", "1", "--out", str(tmp_path), "--no-progress", "--tensorboard", str(logdir)])
    assert f"TensorBoard logs in {logdir}" in capsys.readouterr().out
    events = EventAccumulator(str(logdir), size_guidance=STORE_EVERYTHING_SIZE_GUIDANCE).Reload()
    train_set, _ = lamina.datasets.digits(test_fraction=0.2, seed=0)
    losses = events.Scalars("train/loss")
    assert [e.step for e in losses] == list(range(1, -(-len(train_set) // 32) + 1))  # one per step
    (accuracy,) = events.Scalars("test/accuracy")
    (lr,) = events.Scalars("train/lr")
    assert accuracy.step == 1 and 0.5 < accuracy.value <= 1.0
    assert lr.step == 1 and lr.value == pytest.approx(2e-3)
    assert [e.step for e in events.Scalars("test/loss")] == [1]


# ---- language models (gpt.py, char_lstm.py and their shared _lm.py) on a tiny text ----------------

TINY_TEXT = "the cat sat on the mat. the dog sat on the log. " * 60


def _lm_args(tmp_path, steps, *extra):
    text = tmp_path / "tiny.txt"
    text.write_text(TINY_TEXT)
    return [str(text), "--steps", str(steps), "--batch-size", "8", "--block-size", "16", "--eval-every", "3",
            "--eval-batches", "2", "--warmup", "2", "--lr", "1e-2", "--out", str(tmp_path / "run"),
            "--no-progress", *extra]


def test_lm_helpers():
    from lamina.examples import _lm
    text = _lm.load_text()  # Python's own pydoc_data: present on any CPython
    assert len(text) > 100_000 and "assert" in text
    vocab = _lm.CharVocab("banana")
    assert vocab.chars == "abn" and vocab.decode(vocab.encode("nab")) == "nab"
    with pytest.raises(ValueError, match="'z'"):
        vocab.encode("zab")
    ids = vocab.encode("aaab" * 10)
    # Frequencies 3/4, 1/4 (add-one smoothed over 3 symbols) scored on the same text.
    p = np.array([31, 11, 1]) / 43
    assert _lm.unigram_baseline(ids, ids, 3) == pytest.approx(-(0.75 * np.log(p[0]) + 0.25 * np.log(p[1])))
    lrs = [_lm.lr_at(s, 1.0, warmup=4, total=14) for s in range(14)]
    assert lrs[:4] == [0.25, 0.5, 0.75, 1.0] and lrs[4] == 1.0
    assert all(a >= b for a, b in zip(lrs[4:], lrs[5:])) and lrs[-1] > 0.1
    assert _lm.lr_at(14, 1.0, warmup=4, total=14) == pytest.approx(0.1)


def test_lm_sample_next_temperature_and_top_k():
    from lamina.examples import _lm
    logits = lamina.tensor([[0.0, 3.0, 1.0, 2.0]] * 64)
    g = lamina.Generator().manual_seed(0)
    assert _lm.sample_next(logits, temperature=0).flatten().tolist() == [1] * 64
    assert _lm.sample_next(logits, top_k=1, generator=g).flatten().tolist() == [1] * 64
    drawn = set(_lm.sample_next(logits, temperature=5.0, top_k=2, generator=g).flatten().tolist())
    assert drawn == {1, 3}


def _check_lm_run(module, name, tmp_path, capsys, model_args):
    first = module.main(_lm_args(tmp_path, 6, "--sample", "0", *model_args))
    (s1, train1, val1), (s2, train2, val2) = first["history"]
    assert (s1, s2) == (3, 6) and val2 < val1
    out = capsys.readouterr().out
    assert "unigram baseline" in out and "step     6/6" in out
    # Resume: continues at step 6 with the saved weights, optimizer state and history.
    second = module.main(_lm_args(tmp_path, 9, "--resume", "--sample", "40", "--temperature", "0.7",
                                  "--top-k", "3", "--prompt", "the ", *model_args))
    out = capsys.readouterr().out
    assert f"resumed {tmp_path / 'run' / (name + '.safetensors')} at step 6" in out
    assert [h[0] for h in second["history"]] == [3, 6, 9]
    assert second["history"][-1][2] < val1
    assert len(second["sample"]) == 40 and set(second["sample"]) <= set(TINY_TEXT)
    assert ("the " + second["sample"]) in out


def test_gpt_trains_resumes_and_samples(tmp_path, capsys):
    from lamina.examples import gpt
    _check_lm_run(gpt, "gpt", tmp_path, capsys, ["--layers", "1", "--d-model", "32", "--heads", "2"])


def test_gpt_kv_cache_matches_full_forward():
    from lamina.examples import _lm
    from lamina.examples.gpt import GPT
    lamina.manual_seed(0)
    model = GPT(11, n_layers=2, d_model=32, n_heads=4, block_size=16).eval()
    idx = lamina.randint(0, 11, (2, 14))
    with lamina.no_grad():
        full = model(idx)
        # A 5-token prompt, then one token at a time, then a 3-token chunk (the masked path).
        pieces, cache = [], None
        for a, b in [(0, 5)] + [(t, t + 1) for t in range(5, 11)] + [(11, 14)]:
            logits, cache = model.advance(idx[:, a:b], cache)
            pieces.append(logits)
    assert len(cache) == 14 and cache.layers[0][0].shape == (2, 4, 14, 8)
    np.testing.assert_allclose(lamina.cat(pieces, dim=1).numpy(), full.numpy(), atol=1e-5)
    # Past block_size the cache restarts from the last half window: logits of a full pass over it.
    idx = lamina.randint(0, 11, (2, 17))
    with lamina.no_grad():
        logits, cache = model.advance(idx[:, :16])
        logits, cache = model.advance(idx[:, 16:], cache)
        np.testing.assert_allclose(logits[:, -1].numpy(), model(idx[:, 9:])[:, -1].numpy(), atol=1e-5)
    assert len(cache) == 8
    assert len(_lm.generate(model, [1, 2, 3], 40, top_k=5)) == 40  # runs past block_size


def test_char_lstm_trains_resumes_and_samples(tmp_path, capsys):
    from lamina.examples import char_lstm
    _check_lm_run(char_lstm, "char_lstm", tmp_path, capsys, ["--embed-dim", "16", "--hidden-size", "32"])


def test_char_lstm_state_carries_across_steps():
    from lamina.examples.char_lstm import CharLSTM
    lamina.manual_seed(0)
    model = CharLSTM(11, embed_dim=8, hidden_size=16).eval()
    idx = lamina.randint(0, 11, (2, 9))
    with lamina.no_grad():
        full = model(idx)
        logits, state = model.advance(idx[:, :4])
        pieces = [logits]
        for t in range(4, 9):
            logits, state = model.advance(idx[:, t:t + 1], state)
            pieces.append(logits)
    assert state[0].shape == state[1].shape == (2, 2, 16)
    np.testing.assert_allclose(lamina.cat(pieces, dim=1).numpy(), full.numpy(), atol=1e-5)


def test_digits_vit_trains(tmp_path, capsys):
    pytest.importorskip("sklearn")
    from lamina.examples import digits
    history = digits.train(epochs=2, out=str(tmp_path), show_progress=False, model="vit")
    # Two epochs only show it learning; the full run (30 epochs) reaches ~96% test accuracy.
    assert history["train_loss"][1] < history["train_loss"][0]
    assert history["test_loss"][1] < history["test_loss"][0]
    model = digits.DigitsViT()
    model.load_state_dict(lamina.load(str(tmp_path / "digits_vit.safetensors"))["model"])
    assert "digits (vit)" in capsys.readouterr().out

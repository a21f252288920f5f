"""The examples run end to end (on a reduced epoch count)."""

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

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

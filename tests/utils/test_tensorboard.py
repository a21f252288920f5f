"""lamina.utils.tensorboard.SummaryWriter, read back with tensorboard's own EventAccumulator.

Every method is checked through what TensorBoard would show: tags, steps and values of the event
files, decoded PNGs, the hparams plugin's protos and the projector's files.
"""

import builtins
import io
import os
import re
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

import lamina
from lamina.utils.tensorboard import SummaryWriter

pytest.importorskip("tensorboard")
from google.protobuf import text_format  # noqa: E402  (tensorboard depends on protobuf)
from tensorboard.backend.event_processing.event_accumulator import (  # noqa: E402
    STORE_EVERYTHING_SIZE_GUIDANCE, EventAccumulator)
from tensorboard.plugins.hparams import metadata as hparams_metadata  # noqa: E402
from tensorboard.plugins.projector import ProjectorConfig  # noqa: E402
from tensorboard.util import tensor_util  # noqa: E402

PREFIX = "lamina.utils.tensorboard.SummaryWriter."


def read(logdir):
    return EventAccumulator(str(logdir), size_guidance=STORE_EVERYTHING_SIZE_GUIDANCE).Reload()


def scalars(logdir, tag):
    return [(e.step, e.value) for e in read(logdir).Scalars(tag)]


def png_pixels(image_event):
    from PIL import Image
    return np.asarray(Image.open(io.BytesIO(image_event.encoded_image_string)))


def test_add_scalar_accepts_numbers_arrays_and_tensors(tmp_path):
    values = [0.5, 2, np.float32(3.25), np.array([4.5]), lamina.tensor(5.5),
              lamina.tensor([6.5], requires_grad=True), lamina.tensor(7.0, dtype=lamina.float64),
              lamina.tensor(8.5, requires_grad=True) * 1]
    with SummaryWriter(tmp_path) as writer:
        for step, value in enumerate(values):
            writer.add_scalar("train/loss", value, step)
        writer.add_scalar("steps", 1.0, lamina.tensor(41))
        writer.add_scalar("steps", 2.0, np.int64(42), walltime=123.5)
    assert scalars(tmp_path, "train/loss") == [(0, 0.5), (1, 2.0), (2, 3.25), (3, 4.5), (4, 5.5),
                                               (5, 6.5), (6, 7.0), (7, 8.5)]
    events = read(tmp_path).Scalars("steps")
    assert [(e.step, e.value) for e in events] == [(41, 1.0), (42, 2.0)]
    assert events[1].wall_time == 123.5


def test_add_scalar_new_style_writes_a_scalars_tensor(tmp_path):
    with SummaryWriter(tmp_path) as writer:
        writer.add_scalar("single", 1.0 / 3.0, 1, new_style=True)
        writer.add_scalar("double", 1.0 / 3.0, 2, new_style=True, double_precision=True)
    acc = read(tmp_path)
    single, double = acc.Tensors("single")[0], acc.Tensors("double")[0]
    assert single.step == 1 and tensor_util.make_ndarray(single.tensor_proto).dtype == np.float32
    assert tensor_util.make_ndarray(double.tensor_proto) == 1.0 / 3.0
    assert acc.SummaryMetadata("single").plugin_data.plugin_name == "scalars"


def test_add_scalars_writes_one_sub_run_per_key(tmp_path):
    with SummaryWriter(tmp_path) as writer:
        for step in range(3):
            writer.add_scalars("loss/all", {"train": lamina.tensor(1.0 + step), "test": 10.0 + step},
                               step)
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["loss_all_test",
                                                                        "loss_all_train"]
    assert scalars(tmp_path / "loss_all_train", "loss/all") == [(0, 1.0), (1, 2.0), (2, 3.0)]
    assert scalars(tmp_path / "loss_all_test", "loss/all") == [(0, 10.0), (1, 11.0), (2, 12.0)]


def test_add_histogram_counts_and_limits(tmp_path):
    values = np.array([0.0, 1.0, 1.5, 2.0, 7.0, 8.0])
    with SummaryWriter(tmp_path) as writer:
        writer.add_histogram("explicit", values, 3, bins=4)
        writer.add_histogram("weights", lamina.randn(40, 25, requires_grad=True), 4)
        writer.add_histogram("merged", np.arange(100.0), 5, bins=10, max_bins=4)
        writer.add_histogram("zero_d", lamina.tensor(2.0), 6)
    acc = read(tmp_path)
    event = acc.Histograms("explicit")[0]
    hist = event.histogram_value
    assert event.step == 3
    assert (hist.min, hist.max, hist.num, hist.sum, hist.sum_squares) == (0.0, 8.0, 6, 19.5, 120.25)
    # np.histogram(bins=4) over [0, 8]: edges 0, 2, 4, 6, 8 and counts 3, 1, 0, 2. TensorBoard keeps
    # right edges only, so an empty bin ending at 0 leads.
    assert hist.bucket_limit == [0.0, 2.0, 4.0, 6.0, 8.0]
    assert hist.bucket == [0.0, 3.0, 1.0, 0.0, 2.0]

    weights = acc.Histograms("weights")[0].histogram_value
    assert weights.num == 1000 and sum(weights.bucket) == 1000
    assert weights.bucket[0] == 0 and weights.bucket_limit[0] <= weights.min
    assert weights.bucket_limit[-1] >= weights.max
    assert np.all(np.diff(weights.bucket_limit) > 0)
    # TensorFlow's default buckets grow by 10%: far finer than 4 bins over the same range.
    assert len(weights.bucket) > 50

    merged = acc.Histograms("merged")[0].histogram_value
    assert len(merged.bucket) <= 4 + 1 and sum(merged.bucket) == 100
    assert merged.bucket_limit[0] == 0.0 and merged.bucket_limit[-1] == 99.0

    zero_d = acc.Histograms("zero_d")[0].histogram_value
    assert (zero_d.num, zero_d.min, zero_d.max, sum(zero_d.bucket)) == (1, 2.0, 2.0, 1)


IMAGE = np.linspace(0.0, 1.0, 2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)  # (H, W, C) = 2x3, RGBA


@pytest.mark.parametrize("dataformats, make, channels", [
    ("CHW", lambda hwc: hwc[..., :3].transpose(2, 0, 1), 3),
    ("HWC", lambda hwc: hwc[..., :3], 3),
    ("HWC", lambda hwc: hwc, 4),
    ("CHW", lambda hwc: hwc[..., :1].transpose(2, 0, 1), 1),
    ("HW", lambda hwc: hwc[..., 0], 1),
    ("WH", lambda hwc: hwc[..., 0].T, 1),
    ("hwc", lambda hwc: hwc[..., :3], 3),
])
@pytest.mark.parametrize("kind", ["lamina_float", "numpy_float64", "numpy_uint8"])
def test_add_image_dataformats_and_value_range(tmp_path, dataformats, make, channels, kind):
    expected = np.rint(IMAGE[..., :channels] * 255).astype(np.uint8)
    if kind == "numpy_uint8":
        data = make(np.rint(IMAGE * 255).astype(np.uint8))
    elif kind == "numpy_float64":
        data = make(IMAGE.astype(np.float64))
    else:
        data = lamina.from_numpy(np.ascontiguousarray(make(IMAGE))).requires_grad_()
    with SummaryWriter(tmp_path) as writer:
        writer.add_image("picture", data, 7, dataformats=dataformats)
    event = read(tmp_path).Images("picture")[0]
    assert (event.step, event.width, event.height) == (7, 3, 2)
    pixels = png_pixels(event)
    assert pixels.reshape(2, 3, channels).tolist() == expected.tolist()


def test_add_image_clips_float_range_and_maps_nan_to_black(tmp_path):
    with SummaryWriter(tmp_path) as writer:
        writer.add_image("clipped", np.array([[-1.0, 0.5, 2.0, np.nan]]), dataformats="HW")
    assert png_pixels(read(tmp_path).Images("clipped")[0]).tolist() == [[0, 128, 255, 0]]


@pytest.mark.parametrize("dataformats, shape", [("NCHW", (10, 3, 4, 5)), ("NHWC", (10, 4, 5, 3)),
                                                ("NCHW", (3, 1, 4, 5))])
def test_add_images_tiles_a_grid_of_at_most_8_columns(tmp_path, dataformats, shape):
    batch = np.zeros(shape, dtype=np.uint8)
    last = (slice(-1, None),) + (slice(None),) * 3
    batch[last] = 255  # the last image is white
    with SummaryWriter(tmp_path) as writer:
        writer.add_images("batch", lamina.from_numpy(batch.astype(np.float32) / 255), 2,
                          dataformats=dataformats)
    event = read(tmp_path).Images("batch")[0]
    n = shape[0]
    cols, rows = min(n, 8), -(-n // 8)
    assert (event.width, event.height) == (cols * 5, rows * 4)
    pixels = png_pixels(event).reshape(rows * 4, cols * 5, -1)
    row, col = divmod(n - 1, cols)
    tile = pixels[row * 4:(row + 1) * 4, col * 5:(col + 1) * 5]
    assert (tile == 255).all() and pixels.sum() == tile.sum()


def test_add_figure_renders_and_closes(tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def figure():
        fig = plt.figure(figsize=(2, 1), dpi=50)
        fig.gca().plot([0, 1], [1, 0])
        return fig

    first, kept, pair = figure(), figure(), [figure(), figure()]
    with SummaryWriter(tmp_path) as writer:
        writer.add_figure("plot", first, 1)
        writer.add_figure("kept", kept, 1, close=False)
        writer.add_figure("pair", pair, 2)
    acc = read(tmp_path)
    assert [(e.step, e.width, e.height) for e in acc.Images("plot")] == [(1, 100, 50)]
    assert [(e.step, e.width, e.height) for e in acc.Images("pair")] == [(2, 200, 50)]
    assert not plt.fignum_exists(first.number) and not plt.fignum_exists(pair[0].number)
    assert plt.fignum_exists(kept.number)
    plt.close(kept)
    assert png_pixels(acc.Images("plot")[0]).shape == (50, 100, 3)


def test_add_text(tmp_path):
    with SummaryWriter(tmp_path) as writer:
        writer.add_text("notes", "**lr** = 0.1, ünïcode", 3)
        writer.add_text("notes", "second", 4)
    acc = read(tmp_path)
    events = acc.Tensors("notes/text_summary")
    assert [e.step for e in events] == [3, 4]
    assert [e.tensor_proto.string_val[0].decode() for e in events] == ["**lr** = 0.1, ünïcode",
                                                                       "second"]
    assert acc.SummaryMetadata("notes/text_summary").plugin_data.plugin_name == "text"


def test_add_hparams_writes_the_plugin_sessions_and_metrics(tmp_path):
    with SummaryWriter(tmp_path) as writer:
        writer.add_hparams({"lr": 0.01, "batch": lamina.tensor(32), "optim": "adam", "bn": True,
                            "unused": None},
                           {"hparam/accuracy": lamina.tensor(0.9375), "hparam/loss": 0.25},
                           hparam_domain_discrete={"optim": ["adam", "sgd"]}, run_name="trial0",
                           global_step=5)
    run = tmp_path / "trial0"
    acc = read(run)
    content = acc.PluginTagToContent(hparams_metadata.PLUGIN_NAME)
    start = hparams_metadata.parse_session_start_info_plugin_data(
        content[hparams_metadata.SESSION_START_INFO_TAG])
    assert start.hparams["lr"].number_value == 0.01 and start.hparams["batch"].number_value == 32
    assert start.hparams["optim"].string_value == "adam" and start.hparams["bn"].bool_value is True
    assert "unused" not in start.hparams
    experiment = hparams_metadata.parse_experiment_plugin_data(
        content[hparams_metadata.EXPERIMENT_TAG])
    infos = {info.name: info for info in experiment.hparam_infos}
    assert sorted(infos) == ["batch", "bn", "lr", "optim"]
    assert [v.string_value for v in infos["optim"].domain_discrete.values] == ["adam", "sgd"]
    assert sorted(m.name.tag for m in experiment.metric_infos) == ["hparam/accuracy", "hparam/loss"]
    end = hparams_metadata.parse_session_end_info_plugin_data(
        content[hparams_metadata.SESSION_END_INFO_TAG])
    assert end.status == 1  # STATUS_SUCCESS
    assert scalars(run, "hparam/accuracy") == [(5, 0.9375)]
    assert scalars(run, "hparam/loss") == [(5, 0.25)]


def test_add_embedding_writes_projector_files(tmp_path):
    mat = np.random.randn(5, 3).astype(np.float32)
    with SummaryWriter(tmp_path) as writer:
        writer.add_embedding(lamina.from_numpy(mat).requires_grad_(), metadata=list("abcde"),
                             label_img=lamina.rand(5, 3, 4, 6), tag="features")
        writer.add_embedding(mat[:2], metadata=[["x", 1], ["y", 2]], metadata_header=["name", "id"],
                             global_step=12, tag="a/b")
        with pytest.warns(UserWarning, match="add_embedding: .* exists"):
            writer.add_embedding(mat, tag="features")  # same step and tag: replaces the entry
    folder = tmp_path / "00000" / "features"
    assert np.array_equal(np.loadtxt(folder / "tensors.tsv", delimiter="\t", dtype=np.float32), mat)
    assert (folder / "metadata.tsv").read_text() == "a\nb\nc\nd\ne\n"
    from PIL import Image
    assert Image.open(folder / "sprite.png").size == (3 * 6, 2 * 4)  # ceil(sqrt(5)) columns
    assert (tmp_path / "00012" / "a%2Fb" / "metadata.tsv").read_text() == "name\tid\nx\t1\ny\t2\n"

    config = text_format.Parse((tmp_path / "projector_config.pbtxt").read_text(), ProjectorConfig())
    assert [e.tensor_name for e in config.embeddings] == ["a/b:00012", "features:00000"]
    features = config.embeddings[1]
    assert features.tensor_path == "00000/features/tensors.tsv"
    assert not features.metadata_path and not features.sprite.image_path  # the replacement has none
    assert config.embeddings[0].metadata_path == "00012/a%2Fb/metadata.tsv"


def test_add_embedding_sprite_entry(tmp_path):
    with SummaryWriter(tmp_path) as writer:
        writer.add_embedding(np.eye(4), label_img=np.zeros((4, 1, 2, 3), np.uint8))
    config = text_format.Parse((tmp_path / "projector_config.pbtxt").read_text(), ProjectorConfig())
    sprite = config.embeddings[0].sprite
    assert sprite.image_path == "00000/default/sprite.png"
    assert list(sprite.single_image_dim) == [3, 2]  # width, height


def _wait_for_next_second():
    # Event files are named by the second they were created in, and TensorBoard reads them in name
    # order: the resumed run's file must sort after the crashed run's.
    time.sleep(1.02 - time.time() % 1.0)


def test_purge_step_hides_the_crashed_runs_tail(tmp_path):
    with SummaryWriter(tmp_path) as crashed:
        for step in range(10):
            crashed.add_scalar("loss", float(step), step)
    _wait_for_next_second()
    with SummaryWriter(tmp_path, purge_step=6) as resumed:
        for step in range(6, 8):
            resumed.add_scalar("loss", 100.0 + step, step)
    assert scalars(tmp_path, "loss") == [(s, float(s)) for s in range(6)] + [(6, 106.0), (7, 107.0)]


def test_context_manager_closes_and_close_is_idempotent(tmp_path):
    # A queue and a flush interval that never trigger: only close() can have written the events.
    with SummaryWriter(tmp_path, max_queue=1000, flush_secs=10000) as writer:
        writer.add_scalar("x", 1.0, 0)
    assert scalars(tmp_path, "x") == [(0, 1.0)]
    writer.close()
    writer.flush()
    # As in PyTorch, logging after close opens a new event file in the same directory.
    writer.add_scalar("x", 2.0, 1)
    writer.flush()
    assert len([p for p in tmp_path.iterdir() if p.name.startswith("events.out.tfevents")]) == 2
    writer.close()
    assert scalars(tmp_path, "x") == [(0, 1.0), (1, 2.0)]


def test_flush_writes_pending_events(tmp_path):
    writer = SummaryWriter(tmp_path, max_queue=1000, flush_secs=10000)
    writer.add_scalar("x", 3.0, 0)
    writer.flush()
    assert scalars(tmp_path, "x") == [(0, 3.0)]
    writer.close()


def test_default_log_dir_and_options(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with SummaryWriter(comment="_lr0.1") as writer:
        pattern = r"runs/[A-Z][a-z]{2}\d{2}_\d{2}-\d{2}-\d{2}_" + re.escape(socket.gethostname())
        assert re.fullmatch(pattern + "_lr0.1", writer.log_dir.replace(os.sep, "/"))
        assert writer.get_logdir() == writer.log_dir and os.path.isdir(writer.log_dir)
    with SummaryWriter(tmp_path / "named", comment="ignored", filename_suffix=".v1") as writer:
        assert writer.log_dir == str(tmp_path / "named")
        assert (writer.max_queue, writer.flush_secs) == (10, 120)
    (event_file,) = (tmp_path / "named").iterdir()
    assert event_file.name.startswith("events.out.tfevents.") and event_file.name.endswith(".v1")


@pytest.mark.parametrize("call, error, message", [
    (lambda w: w.add_scalar("x", lamina.ones(2, 3)), ValueError,
     r"add_scalar: expected scalar_value to be a number or a one-element tensor, got shape \(2, 3\)"),
    (lambda w: w.add_scalar("x", "1.0"), TypeError, r"add_scalar: expected scalar_value as a lamina"),
    (lambda w: w.add_scalar(3, 1.0), TypeError, r"add_scalar: expected tag to be a string, got int"),
    (lambda w: w.add_scalar("x", 1.0, "five"), TypeError, r"add_scalar: expected global_step"),
    (lambda w: w.add_scalars("x", {"a": 1.0, "b": np.ones(3)}), ValueError,
     r"add_scalars: .* got shape \(3,\)"),
    (lambda w: w.add_scalars("x", [1.0]), TypeError, r"add_scalars: expected tag_scalar_dict"),
    (lambda w: w.add_histogram("h", np.zeros((0, 3))), ValueError,
     r"add_histogram: expected at least one value, got shape \(0, 3\)"),
    (lambda w: w.add_histogram("h", np.array([1.0, np.nan])), ValueError,
     r"add_histogram: values contain NaN"),
    (lambda w: w.add_histogram("h", np.ones(3), bins=[5, 6]), ValueError,
     r"add_histogram: no value falls inside the bins"),
    (lambda w: w.add_histogram("h", np.ones(3), bins=4, max_bins=0), ValueError,
     r"add_histogram: expected max_bins to be at least 1, got 0"),
    (lambda w: w.add_image("i", lamina.rand(2, 3, 8, 8)), ValueError,
     r"add_image: dataformats 'CHW' expects a 3-d image, got shape \(2, 3, 8, 8\)"),
    (lambda w: w.add_image("i", lamina.rand(2, 8, 8)), ValueError,
     r"add_image: expected 1, 3 or 4 channels .* got 2 in shape \(2, 8, 8\)"),
    (lambda w: w.add_image("i", lamina.ones(3, 8, 8, dtype=lamina.int64)), TypeError,
     r"add_image: expected a float image .* got dtype int64"),
    (lambda w: w.add_image("i", np.ones((8, 8)), dataformats="HX"), ValueError,
     r"add_image: dataformats must arrange H, W .* got 'HX'"),
    (lambda w: w.add_image("i", np.ones((3, 0, 8))), ValueError,
     r"add_image: expected a non-empty image, got shape \(3, 0, 8\)"),
    (lambda w: w.add_images("i", lamina.rand(3, 8, 8)), ValueError,
     r"add_images: dataformats 'NCHW' expects a 4-d image, got shape \(3, 8, 8\)"),
    (lambda w: w.add_figure("f", np.zeros((3, 4, 4))), TypeError,
     r"add_figure: expected a matplotlib Figure or a list of them, got ndarray"),
    (lambda w: w.add_text("t", 42), TypeError, r"add_text: expected text_string to be a string"),
    (lambda w: w.add_hparams([("lr", 0.1)], {}), TypeError, r"add_hparams: expected hparam_dict"),
    (lambda w: w.add_hparams({"layers": [1, 2]}, {}), TypeError,
     r"add_hparams: expected hparam_dict\['layers'\] to be a bool, str, number"),
    (lambda w: w.add_hparams({"lr": 0.1}, {"acc": lamina.ones(2)}), ValueError,
     r"add_hparams: expected scalar_value to be a number or a one-element tensor, got shape \(2,\)"),
    (lambda w: w.add_embedding(lamina.ones(5)), ValueError,
     r"add_embedding: expected mat of shape \(N, D\), one row per point, got shape \(5,\)"),
    (lambda w: w.add_embedding(np.ones((5, 2)), metadata=["a"]), ValueError,
     r"add_embedding: metadata has 1 entries for 5 rows of mat"),
    (lambda w: w.add_embedding(np.ones((5, 2)), label_img=np.ones((4, 3, 2, 2))), ValueError,
     r"add_embedding: expected label_img of shape \(5, C, H, W\), .* got shape \(4, 3, 2, 2\)"),
])
def test_bad_input_raises_naming_the_method(tmp_path, call, error, message):
    with SummaryWriter(tmp_path) as writer:
        with pytest.raises(error, match=re.escape(PREFIX) + message):
            call(writer)
    # Nothing half-written: no sub-run, no embedding folder, no summary in the event file.
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == []
    assert read(tmp_path).Tags()["scalars"] == []


def test_bad_purge_step_raises_naming_the_constructor(tmp_path):
    with pytest.raises(TypeError, match=re.escape(
            "lamina.utils.tensorboard.SummaryWriter: expected purge_step to be an integer, got 'x'")):
        SummaryWriter(tmp_path, purge_step="x")


def test_missing_tensorboard_raises_import_error_naming_the_install(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def import_without_tensorboard(name, *args, **kwargs):
        if name == "tensorboard" or name.startswith("tensorboard."):
            raise ModuleNotFoundError(f"No module named '{name}'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", import_without_tensorboard)
    with pytest.raises(ImportError, match=re.escape(
            'lamina.utils.tensorboard.SummaryWriter needs the tensorboard package, which is not '
            'installed: pip install tensorboard (or pip install "lamina[tensorboard]")')):
        SummaryWriter(tmp_path / "never")
    assert not (tmp_path / "never").exists()


def test_importing_lamina_and_the_module_never_needs_tensorboard():
    # A fresh interpreter where tensorboard cannot be imported at all (None in sys.modules).
    code = ("import sys; sys.modules['tensorboard'] = None\n"
            "import lamina, lamina.utils.tensorboard as tb\n"
            "try:\n    tb.SummaryWriter('unused')\n"
            "except ImportError as e:\n    print(e)\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert "pip install tensorboard" in result.stdout

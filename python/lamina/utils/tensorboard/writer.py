"""SummaryWriter: torch.utils.tensorboard's logger, taking lamina tensors, numpy arrays and numbers.

Events are written by the tensorboard package's EventFileWriter (record framing, CRCs, a
background thread that flushes every ``flush_secs`` seconds or ``max_queue`` events), one per run
directory: ``log_dir`` itself, one sub-run per add_scalars key, one per add_hparams call. After
close() the next add_* call opens a new event file in the same directory, as PyTorch does.
"""

import os
import socket
import time
import types
from datetime import datetime

import numpy as np

from . import _convert, _image

_NAME = "lamina.utils.tensorboard.SummaryWriter"
_INSTALL = 'pip install tensorboard (or pip install "lamina[tensorboard]")'


def _where(method):
    return f"{_NAME}.{method}"


def _load_tensorboard():
    """The tensorboard pieces a writer needs; ImportError naming the install when it is missing."""
    try:
        from tensorboard.compat.proto.event_pb2 import Event, SessionLog
        from tensorboard.plugins.projector import ProjectorConfig
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
    except ImportError as e:
        raise ImportError(f"{_NAME} needs the tensorboard package, which is not installed: "
                          f"{_INSTALL}") from e
    from . import _embedding, _summary
    return types.SimpleNamespace(Event=Event, SessionLog=SessionLog, ProjectorConfig=ProjectorConfig,
                                 EventFileWriter=EventFileWriter, embedding=_embedding,
                                 summary=_summary)


def _check_tag(tag, where, name="tag"):
    if not isinstance(tag, str):
        raise TypeError(f"{where}: expected {name} to be a string, got {type(tag).__name__}")


def _check_dict(value, where, name):
    if not isinstance(value, dict):
        raise TypeError(f"{where}: expected {name} to be a dict, got {type(value).__name__}")


class SummaryWriter:
    """Writes scalars, histograms, images, text, hparams and embeddings for TensorBoard.

    Args:
        log_dir (str or os.PathLike): run directory. Default ``runs/CURRENT_DATETIME_HOSTNAME``
            (``runs/May04_22-14-54_myhost`` + ``comment``), new for every run.
        comment (str): suffix of the default log_dir; ignored when log_dir is given.
        purge_step (int): resuming a run that crashed after step T + X at step T: TensorBoard
            hides the events with step >= T written to log_dir before this writer.
        max_queue (int): pending events that force a write to disk.
        flush_secs (float): seconds between automatic flushes.
        filename_suffix (str): appended to every event file name.

    Values may be lamina tensors (detached first, so ``requires_grad`` tensors are fine),
    numpy arrays or Python numbers. ``tensorboard --logdir runs`` shows the result.
    """

    def __init__(self, log_dir=None, comment="", purge_step=None, max_queue=10, flush_secs=120,
                 filename_suffix=""):
        self._tb = _load_tensorboard()
        if not log_dir:
            stamp = datetime.now().strftime("%b%d_%H-%M-%S")
            log_dir = os.path.join("runs", f"{stamp}_{socket.gethostname()}{comment}")
        self.log_dir = os.fspath(log_dir)
        self.purge_step = _convert.to_step(purge_step, _NAME, "purge_step")
        self.max_queue = max_queue
        self.flush_secs = flush_secs
        self.filename_suffix = filename_suffix
        self._writers = None  # run directory -> EventFileWriter; None once closed
        self._projector_config = None
        # PyTorch creates log_dir and its first event file here, before anything is logged.
        self._file_writer()

    def _open(self, logdir):
        return self._tb.EventFileWriter(logdir, self.max_queue, self.flush_secs, self.filename_suffix)

    def _file_writer(self):
        """The event writer of log_dir, opened again after close()."""
        if self._writers is None:
            writer = self._open(self.log_dir)
            self._writers = {self.log_dir: writer}
            if self.purge_step is not None:
                # A SessionLog START at step T makes TensorBoard drop the events with step >= T read
                # before it: the resumed run replaces the crashed run's tail. Only once per writer.
                start = self._tb.SessionLog(status=self._tb.SessionLog.START)
                writer.add_event(self._tb.Event(step=self.purge_step, wall_time=time.time(),
                                                session_log=start))
                self.purge_step = None
        return self._writers[self.log_dir]

    def _add(self, summary, global_step, walltime, where, writer=None):
        event = self._tb.Event(summary=summary, wall_time=_convert.to_walltime(walltime, where))
        step = _convert.to_step(global_step, where)
        if step is not None:
            event.step = step
        (writer or self._file_writer()).add_event(event)

    def get_logdir(self):
        """The directory event files are written to."""
        return self.log_dir

    def add_scalar(self, tag, scalar_value, global_step=None, walltime=None, new_style=False,
                   double_precision=False):
        """One value of the curve ``tag``: a number or a one-element tensor or array.

        new_style writes a scalars-plugin tensor instead of ``simple_value`` (float32, or float64
        with double_precision).
        """
        where = _where("add_scalar")
        _check_tag(tag, where)
        summary = self._tb.summary.scalar(tag, scalar_value, new_style, double_precision, where)
        self._add(summary, global_step, walltime, where)

    def add_scalars(self, main_tag, tag_scalar_dict, global_step=None, walltime=None):
        """Several curves in one chart: each key is a sub-run ``log_dir/<main_tag>_<key>``.

        Every value is logged under the tag ``main_tag`` in its sub-run, so TensorBoard draws
        them together (one colour per key).
        """
        where = _where("add_scalars")
        _check_tag(main_tag, where, "main_tag")
        _check_dict(tag_scalar_dict, where, "tag_scalar_dict")
        summaries = {}
        for key, value in tag_scalar_dict.items():  # check every value before writing any
            _check_tag(key, where, "every key of tag_scalar_dict")
            summaries[key] = self._tb.summary.scalar(main_tag, value, False, False, where)
        walltime = _convert.to_walltime(walltime, where)
        self._file_writer()
        for key, summary in summaries.items():
            run = os.path.join(self.log_dir, f"{main_tag.replace('/', '_')}_{key}")
            if run not in self._writers:
                self._writers[run] = self._open(run)
            self._add(summary, global_step, walltime, where, self._writers[run])

    def add_histogram(self, tag, values, global_step=None, bins="tensorflow", walltime=None,
                      max_bins=None):
        """Distribution of all elements of ``values`` (any shape, finite).

        bins: 'tensorflow' (TensorFlow's log-spaced buckets) or anything numpy.histogram takes
        (a count, edges, 'auto', 'fd', ...); max_bins merges adjacent bins down to that many.
        """
        where = _where("add_histogram")
        _check_tag(tag, where)
        summary = self._tb.summary.histogram(tag, values, bins, max_bins, where)
        self._add(summary, global_step, walltime, where)

    def _add_image(self, tag, img_tensor, global_step, walltime, dataformats, where):
        _check_tag(tag, where)
        array = _convert.to_numpy(img_tensor, where, "img_tensor")
        hwc = _image.to_hwc_uint8(array, dataformats, where)
        self._add(self._tb.summary.image(tag, hwc, where), global_step, walltime, where)

    def add_image(self, tag, img_tensor, global_step=None, walltime=None, dataformats="CHW"):
        """One image: (3, H, W) by default; dataformats names other layouts ('HWC', 'HW', ...).

        Float values are read in [0, 1], numpy uint8 values in [0, 255]; 1 (gray), 3 (RGB) or
        4 (RGBA) channels.
        """
        self._add_image(tag, img_tensor, global_step, walltime, dataformats, _where("add_image"))

    def add_images(self, tag, img_tensor, global_step=None, walltime=None, dataformats="NCHW"):
        """A batch of images, (N, 3, H, W) by default, shown tiled in a grid of 8 columns."""
        self._add_image(tag, img_tensor, global_step, walltime, dataformats, _where("add_images"))

    def add_figure(self, tag, figure, global_step=None, close=True, walltime=None):
        """A matplotlib Figure (or a list of same-size figures, tiled) as an image.

        close=True closes the figures afterwards, as PyTorch does.
        """
        where = _where("add_figure")
        if isinstance(figure, (list, tuple)):
            if not figure:
                raise ValueError(f"{where}: expected at least one figure, got an empty list")
            images = [_image.figure_to_hwc(f, close, where) for f in figure]
            sizes = sorted({image.shape[:2] for image in images})
            if len(sizes) > 1:
                raise ValueError(f"{where}: figures in a list must render to one size, got "
                                 f"(height, width) {', '.join(str(s) for s in sizes)}")
            self._add_image(tag, np.stack(images), global_step, walltime, "NHWC", where)
        else:
            image = _image.figure_to_hwc(figure, close, where)
            self._add_image(tag, image, global_step, walltime, "HWC", where)

    def add_text(self, tag, text_string, global_step=None, walltime=None):
        """A string, rendered as Markdown, under the tag ``<tag>/text_summary``."""
        where = _where("add_text")
        _check_tag(tag, where)
        _check_tag(text_string, where, "text_string")
        self._add(self._tb.summary.text(tag, text_string), global_step, walltime, where)

    def add_hparams(self, hparam_dict, metric_dict, hparam_domain_discrete=None, run_name=None,
                    global_step=None):
        """One row of the HPARAMS table: hyperparameters and the metrics they gave.

        Written to the sub-run ``log_dir/<run_name>`` (default: the current time): the session
        summaries plus each metric as a scalar. Values of hparam_dict are bool, str, numbers or
        one-element tensors (None is skipped); hparam_domain_discrete lists the values a key
        can take. Metric tags should differ from the tags given to add_scalar.
        """
        where = _where("add_hparams")
        _check_dict(hparam_dict, where, "hparam_dict")
        _check_dict(metric_dict, where, "metric_dict")
        domains = {} if hparam_domain_discrete is None else hparam_domain_discrete
        _check_dict(domains, where, "hparam_domain_discrete")
        summaries = list(self._tb.summary.hparams(hparam_dict, metric_dict, domains, where))
        for tag, value in metric_dict.items():
            _check_tag(tag, where, "every key of metric_dict")
            summaries.append(self._tb.summary.scalar(tag, value, False, False, where))
        run_name = run_name or str(time.time())
        self._file_writer()  # the run directory is created before its sub-run, as in PyTorch
        writer = self._open(os.path.join(self.log_dir, run_name))
        try:
            for summary in summaries:
                self._add(summary, global_step, None, where, writer)
        finally:
            writer.close()

    def add_embedding(self, mat, metadata=None, label_img=None, global_step=None, tag="default",
                      metadata_header=None):
        """Points for the PROJECTOR tab: mat (N, D), labels and (N, C, H, W) images per point.

        metadata: N labels, or N lists of values with metadata_header naming the columns.
        Files go to ``log_dir/<global_step, 5 digits>/<tag>``; global_step defaults to 0.
        """
        where = _where("add_embedding")
        _check_tag(tag, where)
        step = _convert.to_step(global_step, where) or 0
        if self._projector_config is None:
            self._projector_config = self._tb.ProjectorConfig()
        self._file_writer()
        self._tb.embedding.add_embedding(self._projector_config, self.log_dir, mat, metadata,
                                         label_img, step, tag, metadata_header, where)

    def flush(self):
        """Writes every pending event to disk."""
        for writer in (self._writers or {}).values():
            writer.flush()

    def close(self):
        """Flushes and closes every event file; closing twice is harmless."""
        for writer in (self._writers or {}).values():
            writer.close()
        self._writers = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        self.close()

"""Summary protos for each SummaryWriter method, built from numpy with the tensorboard package.

The message classes and plugin metadata come from tensorboard itself (its own summary ops need
TensorFlow, so the values are filled in here); the layouts are the ones TensorBoard's legacy
readers expect, the same as torch.utils.tensorboard writes: scalars as ``simple_value``,
histograms as ``HistogramProto``, images as PNG in ``Summary.Image``, text as a string tensor
under ``<tag>/text_summary``, hparams as the hparams plugin's three session summaries.
This module imports tensorboard at its top: writer.py loads it only when a SummaryWriter is built.
"""

import numpy as np
from google.protobuf import struct_pb2
from tensorboard.compat.proto.summary_pb2 import HistogramProto, Summary
from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2
from tensorboard.plugins.hparams import metadata as hparams_metadata
from tensorboard.plugins.scalar import metadata as scalar_metadata
from tensorboard.plugins.text import metadata as text_metadata
from tensorboard.util import tensor_util

from ._convert import is_tensor_or_number, to_float, to_numpy
from ._image import encode_png


def _default_bins():
    # TensorFlow's default histogram buckets (histogram.cc): edges growing by 10% from 1e-12 to
    # 1e20, mirrored for negatives around 0, so any scale of weights gets a fine resolution.
    edges, v = [], 1e-12
    while v < 1e20:
        edges.append(v)
        v *= 1.1
    positive = np.array(edges)
    return np.concatenate([-positive[::-1], [0.0], positive])


DEFAULT_BINS = _default_bins()


def scalar(tag, value, new_style, double_precision, where):
    """``simple_value`` (what every TensorBoard reads), or a scalars-plugin tensor if new_style."""
    value = to_float(value, where, "scalar_value")
    if not new_style:
        return Summary(value=[Summary.Value(tag=tag, simple_value=value)])
    tensor = tensor_util.make_tensor_proto(np.float64(value) if double_precision else np.float32(value))
    smd = scalar_metadata.create_summary_metadata(display_name=None, description=None)
    return Summary(value=[Summary.Value(tag=tag, tensor=tensor, metadata=smd)])


def _merge_bins(counts, edges, max_bins):
    # Merge runs of adjacent bins so that at most max_bins remain (the last run may be shorter).
    group = -(-counts.size // max_bins)
    starts = np.arange(0, counts.size, group)
    return np.add.reduceat(counts, starts), np.append(edges[starts], edges[-1])


def histogram(tag, values, bins, max_bins, where):
    """HistogramProto of all elements; bins as numpy.histogram's, or 'tensorflow' for TF's."""
    values = to_numpy(values, where, "values")
    if values.size == 0:
        raise ValueError(f"{where}: expected at least one value, got shape {tuple(values.shape)}")
    values = values.reshape(-1).astype(np.float64)
    if not np.isfinite(values).all():
        raise ValueError(f"{where}: values contain NaN or infinity (TensorBoard cannot bin them)")
    if max_bins is not None and int(max_bins) < 1:
        raise ValueError(f"{where}: expected max_bins to be at least 1, got {max_bins}")
    if isinstance(bins, str) and bins == "tensorflow":
        bins = DEFAULT_BINS
    counts, edges = np.histogram(values, bins=bins)
    if max_bins is not None and counts.size > max_bins:
        counts, edges = _merge_bins(counts, edges, int(max_bins))
    # TensorBoard stores right edges only: keep the bins from the first to the last non-empty one,
    # led by an empty bin whose right edge is the left edge of the first non-empty bin.
    nonzero = np.flatnonzero(counts)
    if nonzero.size == 0:
        raise ValueError(f"{where}: no value falls inside the bins (values span [{values.min()}, "
                         f"{values.max()}], bins span [{edges[0]}, {edges[-1]}])")
    first, last = nonzero[0], nonzero[-1]
    proto = HistogramProto(
        min=float(values.min()), max=float(values.max()), num=values.size,
        sum=float(values.sum()), sum_squares=float(values.dot(values)),
        bucket_limit=edges[first:last + 2].tolist(),
        bucket=[0.0] + counts[first:last + 1].astype(np.float64).tolist())
    return Summary(value=[Summary.Value(tag=tag, histo=proto)])


def image(tag, hwc, where):
    """A PNG-encoded Summary.Image of an (H, W, C) uint8 array."""
    height, width, channels = hwc.shape
    proto = Summary.Image(height=height, width=width, colorspace=channels,
                          encoded_image_string=encode_png(hwc, where))
    return Summary(value=[Summary.Value(tag=tag, image=proto)])


def text(tag, text_string):
    """A one-element string tensor for the text plugin (Markdown is rendered by TensorBoard)."""
    tensor = tensor_util.make_tensor_proto(np.array([text_string.encode("utf-8")], dtype=object))
    smd = text_metadata.create_summary_metadata(display_name=None, description=None)
    return Summary(value=[Summary.Value(tag=tag + "/text_summary", tensor=tensor, metadata=smd)])


def _hparam_value(value, where, name):
    """(DataType, google.protobuf.Value) of one hyperparameter; bool checked before number."""
    if isinstance(value, (bool, np.bool_)):
        return api_pb2.DATA_TYPE_BOOL, struct_pb2.Value(bool_value=bool(value))
    if isinstance(value, str):
        return api_pb2.DATA_TYPE_STRING, struct_pb2.Value(string_value=value)
    if not is_tensor_or_number(value):
        raise TypeError(f"{where}: expected hparam_dict[{name!r}] to be a bool, str, number, "
                        f"one-element tensor or None, got {type(value).__name__}")
    number = to_float(value, where, f"hparam_dict[{name!r}]")
    return api_pb2.DATA_TYPE_FLOAT64, struct_pb2.Value(number_value=number)


def _plugin_summary(tag, **plugin_data):
    content = plugin_data_pb2.HParamsPluginData(**plugin_data)
    smd = hparams_metadata.create_summary_metadata(content)
    # The hparams plugin's own writer attaches an empty tensor: readers that index summaries by
    # their tensor (TensorBoard's data server) would otherwise drop these values.
    return Summary(value=[Summary.Value(tag=tag, metadata=smd, tensor=hparams_metadata.NULL_TENSOR)])


def hparams(hparam_dict, metric_dict, hparam_domain_discrete, where):
    """(experiment, session start, session end) summaries for the hparams plugin."""
    for name, domain in hparam_domain_discrete.items():
        if name not in hparam_dict or not isinstance(domain, (list, tuple)):
            raise ValueError(f"{where}: hparam_domain_discrete[{name!r}] must be a list of the "
                             f"values of a key of hparam_dict")
    infos, start = [], plugin_data_pb2.SessionStartInfo()
    for name, value in hparam_dict.items():
        if value is None:  # PyTorch skips None: the run simply has no value for it
            continue
        dtype, proto_value = _hparam_value(value, where, name)
        start.hparams[name].CopyFrom(proto_value)
        domain = None
        if name in hparam_domain_discrete:
            domain = struct_pb2.ListValue(values=[
                _hparam_value(v, where, name)[1] for v in hparam_domain_discrete[name]])
        infos.append(api_pb2.HParamInfo(name=name, type=dtype, domain_discrete=domain))
    metrics = [api_pb2.MetricInfo(name=api_pb2.MetricName(tag=tag)) for tag in metric_dict]
    experiment = api_pb2.Experiment(hparam_infos=infos, metric_infos=metrics)
    end = plugin_data_pb2.SessionEndInfo(status=api_pb2.STATUS_SUCCESS)
    return (_plugin_summary(hparams_metadata.EXPERIMENT_TAG, experiment=experiment),
            _plugin_summary(hparams_metadata.SESSION_START_INFO_TAG, session_start_info=start),
            _plugin_summary(hparams_metadata.SESSION_END_INFO_TAG, session_end_info=end))

"""add_embedding's files for TensorBoard's projector plugin (not events: the projector reads files).

Each call writes LOGDIR/<step, 5 digits>/<tag, %-escaped>/ tensors.tsv (one row per point),
metadata.tsv (labels; a header line when there are several columns) and sprite.png (the label
images tiled in a square grid), then rewrites LOGDIR/projector_config.pbtxt listing every embedding
added so far. Files go through tensorboard's gfile, like the event files, so remote log dirs work
wherever they do.
"""

import math
import urllib.parse
import warnings

import numpy as np
from tensorboard.compat import tf
from tensorboard.plugins import projector

from ._convert import to_numpy
from ._image import encode_png, make_grid, to_nchw_uint8


def _write(path, data, mode="w"):
    with tf.io.gfile.GFile(path, mode) as f:
        f.write(data)


def _metadata_tsv(metadata, metadata_header, rows, where):
    if len(metadata) != rows:
        raise ValueError(f"{where}: metadata has {len(metadata)} entries for {rows} rows of mat")
    if metadata_header is None:
        return "".join(f"{label}\n" for label in metadata)
    lines = ["\t".join(str(h) for h in metadata_header)]
    for i, labels in enumerate(metadata):
        if isinstance(labels, str) or len(labels) != len(metadata_header):
            raise ValueError(f"{where}: metadata[{i}] must be a list of {len(metadata_header)} "
                             f"values (one per metadata_header column), got {labels!r}")
        lines.append("\t".join(str(label) for label in labels))
    return "\n".join(lines) + "\n"


def _sprite(label_img, rows, where):
    """PNG bytes of the label images in a ceil(sqrt(N))-column grid, and [width, height] of one."""
    images = to_numpy(label_img, where, "label_img")
    if images.ndim != 4 or images.shape[0] != rows:
        raise ValueError(f"{where}: expected label_img of shape ({rows}, C, H, W), one image per "
                         f"row of mat, got shape {tuple(images.shape)}")
    nchw = to_nchw_uint8(images, "NCHW", where)
    grid = make_grid(nchw, ncols=math.ceil(math.sqrt(rows)))
    return encode_png(grid.transpose(1, 2, 0), where), [nchw.shape[3], nchw.shape[2]]


def add_embedding(config, logdir, mat, metadata, label_img, global_step, tag, metadata_header,
                  where):
    """Writes one embedding's files and adds it to ``config`` (a ProjectorConfig), saved again."""
    mat = to_numpy(mat, where, "mat")
    if mat.ndim != 2:
        raise ValueError(f"{where}: expected mat of shape (N, D), one row per point, "
                         f"got shape {tuple(mat.shape)}")
    rows = mat.shape[0]
    metadata_text = None if metadata is None else _metadata_tsv(metadata, metadata_header, rows, where)
    sprite = None if label_img is None else _sprite(label_img, rows, where)

    subdir = f"{global_step:05d}/{urllib.parse.quote(tag, safe='')}"
    path = f"{logdir}/{subdir}"
    if tf.io.gfile.exists(path):
        warnings.warn(f"{where}: {path} exists and is overwritten (pass a new global_step or tag "
                      f"to keep both embeddings)", stacklevel=3)
    tf.io.gfile.makedirs(path)

    # float32 needs 9 significant digits to read back exactly, float64 17.
    digits = 9 if mat.dtype.itemsize <= 4 else 17
    _write(f"{path}/tensors.tsv",
           "".join("\t".join(f"{x:.{digits}g}" for x in row) + "\n" for row in mat.astype(np.float64)))
    info = projector.EmbeddingInfo(tensor_name=f"{tag}:{global_step:05d}",
                                   tensor_path=f"{subdir}/tensors.tsv")
    if metadata_text is not None:
        _write(f"{path}/metadata.tsv", metadata_text)
        info.metadata_path = f"{subdir}/metadata.tsv"
    if sprite is not None:
        _write(f"{path}/sprite.png", sprite[0], mode="wb")
        info.sprite.image_path = f"{subdir}/sprite.png"
        info.sprite.single_image_dim.extend(sprite[1])
    # Writing the same step and tag again replaces that embedding's entry instead of listing it twice.
    for i in reversed(range(len(config.embeddings))):
        if config.embeddings[i].tensor_name == info.tensor_name:
            del config.embeddings[i]
    config.embeddings.add().CopyFrom(info)
    projector.visualize_embeddings(logdir, config)

"""Images for add_image / add_images / add_figure / add_embedding: layouts, value range, PNG.

Any arrangement of N, C, H, W named by ``dataformats`` becomes one HWC uint8 picture (a batch is
tiled into a grid of at most 8 columns, as PyTorch does). Float images are read as [0, 1] and
uint8 images as [0, 255]; other dtypes are refused rather than guessed, because lamina has no uint8
dtype and an integer tensor holding 0..255 would otherwise be scaled by 255 and saturate.
"""

import io
import math

import numpy as np

_GRID_COLUMNS = 8
_CHANNELS = (1, 3, 4)  # gray, RGB, RGBA: what PNG stores


def _check_dataformats(dataformats, shape, where):
    if not isinstance(dataformats, str):
        raise TypeError(f"{where}: expected dataformats to be a string such as 'CHW', "
                        f"got {type(dataformats).__name__}")
    fmt = dataformats.upper()
    if len(set(fmt)) != len(fmt) or not set(fmt) <= set("NCHW") or not set("HW") <= set(fmt):
        raise ValueError(f"{where}: dataformats must arrange H, W and optionally C and N "
                         f"(such as 'CHW', 'HWC', 'HW', 'NCHW'), got '{dataformats}'")
    if len(shape) != len(fmt):
        raise ValueError(f"{where}: dataformats '{dataformats}' expects a {len(fmt)}-d image, "
                         f"got shape {shape}")
    return fmt


def _to_uint8(array, where):
    if array.dtype == np.uint8:
        return array
    if array.dtype.kind != "f":
        raise TypeError(f"{where}: expected a float image with values in [0, 1] or a uint8 image "
                        f"with values in [0, 255], got dtype {array.dtype} (lamina has no uint8 "
                        f"dtype: pass a float tensor scaled to [0, 1] or a numpy uint8 array)")
    # NaN has no pixel value: black, like values below 0. Rounding matches torchvision's save_image.
    scaled = np.nan_to_num(array.astype(np.float32), nan=0.0) * 255.0
    return np.rint(np.clip(scaled, 0.0, 255.0)).astype(np.uint8)


def make_grid(nchw, ncols=_GRID_COLUMNS):
    """(N, C, H, W) -> (C, rows * H, cols * W), row-major, empty cells black."""
    n, c, h, w = nchw.shape
    ncols = min(n, ncols)
    nrows = math.ceil(n / ncols)
    canvas = np.zeros((c, nrows * h, ncols * w), dtype=nchw.dtype)
    for i in range(n):
        row, col = divmod(i, ncols)
        canvas[:, row * h:(row + 1) * h, col * w:(col + 1) * w] = nchw[i]
    return canvas


def to_nchw_uint8(array, dataformats, where):
    """Any layout named by dataformats -> (N, C, H, W) uint8, N and C added as 1 when absent."""
    shape = tuple(array.shape)
    fmt = _check_dataformats(dataformats, shape, where)
    for axis in "NC":
        if axis not in fmt:
            array = array[..., np.newaxis]
            fmt += axis
    nchw = array.transpose([fmt.index(axis) for axis in "NCHW"])
    n, c, h, w = nchw.shape
    if c not in _CHANNELS:
        raise ValueError(f"{where}: expected 1, 3 or 4 channels (gray, RGB, RGBA), got {c} in shape "
                         f"{shape} with dataformats '{dataformats}'")
    if n == 0 or h == 0 or w == 0:
        raise ValueError(f"{where}: expected a non-empty image, got shape {shape} with dataformats "
                         f"'{dataformats}'")
    return _to_uint8(nchw, where)


def to_hwc_uint8(array, dataformats, where):
    """One picture (H, W, C) uint8: a batch (N in dataformats) is tiled into a grid."""
    nchw = to_nchw_uint8(array, dataformats, where)
    chw = make_grid(nchw) if "N" in dataformats.upper() else nchw[0]
    return chw.transpose(1, 2, 0)


def encode_png(hwc, where):
    """PNG bytes of an (H, W, C) uint8 image, C in (1, 3, 4)."""
    try:
        from PIL import Image
    except ImportError as e:  # tensorboard depends on pillow; an old tensorboard may not
        raise ImportError(f"{where}: encoding images needs pillow: pip install pillow") from e
    image = Image.fromarray(np.ascontiguousarray(hwc[:, :, 0] if hwc.shape[2] == 1 else hwc))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def figure_to_hwc(figure, close, where):
    """A matplotlib Figure rendered as an (H, W, 3) uint8 array at the figure's own dpi."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        Figure = None  # without matplotlib nothing passed in can be a figure
    if Figure is None or not isinstance(figure, Figure):
        raise TypeError(f"{where}: expected a matplotlib Figure or a list of them, "
                        f"got {type(figure).__name__}")
    from PIL import Image

    # savefig renders through Agg and restores the figure's canvas afterwards, so a figure shown
    # in a notebook or a GUI window keeps working (building a FigureCanvasAgg would replace it).
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi="figure")
    buffer.seek(0)
    rgb = np.asarray(Image.open(buffer).convert("RGB"))
    if close:
        import matplotlib.pyplot as plt
        plt.close(figure)
    return rgb

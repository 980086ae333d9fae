"""LoadImageFromFile and LoadAnnotations (mmseg 0.x semantics, decoded with PIL).

Images come out as mmcv gives them: uint8 (h, w, 3) in **BGR** order, so that mmseg configs with
``Normalize(..., to_rgb=True)`` mean the same thing here. Label maps come out as uint8 (h, w).
Problems with a file raise BadSampleError naming the file.

Rules shared by training, evaluation, ``inference_segmentor`` and ``tools/demo.py``:
- 16-bit images (PIL modes ``I;16*``, and ``I`` from a PNG, whose samples are at most 16 bits) are
  reduced to 8 bits by ``value >> 8``, as OpenCV's ``IMREAD_COLOR`` does (mmcv's default
  backend). Other wide modes (32-bit integer ``I`` TIFFs, float ``F``) have no fixed range and are
  refused naming the file and mode.
- EXIF orientation: for 'color'/'grayscale' the image is turned upright as its EXIF tag says
  (mmcv does the same); a label is read in its image's stored pixel grid and turned by the *image's*
  EXIF orientation, so image and label always stay aligned (``results['exif_orientation']``).
  'unchanged' applies no orientation.
"""
import os.path as osp

import numpy as np
from PIL import Image

from ...registry import TRANSFORMS
from ..errors import BadSampleError

_EXIF_ORIENTATION = 0x0112
# EXIF orientation value -> the PIL transpose that makes the image upright (as exif_transpose).
_UPRIGHT = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
            4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
            6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
            8: Image.Transpose.ROTATE_90}
_16BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
# Errors PIL raises for a corrupt, truncated or unsupported file.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)


def _open_fully(filename, kind):
    """Open and decode an image file; BadSampleError if it is missing or unreadable."""
    if not osp.isfile(filename):
        if osp.exists(filename):  # a FIFO would block the reader forever
            raise BadSampleError(filename, f"{kind} path is not a regular file (FIFO, device or "
                                 "folder); not opened")
        raise BadSampleError(filename, f"missing {kind} file")
    try:
        img = Image.open(filename)
        img.load()  # PIL decodes lazily: force it so that truncation shows up here
    except _DECODE_ERRORS as e:
        raise BadSampleError(filename, f"unreadable or truncated {kind}: {e}") from e
    return img


def exif_orientation(img):
    """The EXIF orientation (1..8) of an opened PIL image; 1 (upright) when absent or invalid."""
    try:
        value = int(img.getexif().get(_EXIF_ORIENTATION, 1))
    except (TypeError, ValueError):
        return 1
    return value if value in _UPRIGHT else 1


def image_file_orientation(filename):
    """EXIF orientation of an image file read from its header only (no decoding); 1 if none."""
    try:
        with Image.open(filename) as img:
            return exif_orientation(img)
    except _DECODE_ERRORS as e:
        raise BadSampleError(filename, f"unreadable image: {e}") from e


def make_upright(img, orientation):
    """``img`` (PIL) transposed as EXIF ``orientation`` says; the same for an image or a label."""
    method = _UPRIGHT.get(orientation)
    return img if method is None else img.transpose(method)


def _to_8bit(img, filename):
    """16-bit grey -> 8-bit by ``>> 8`` (OpenCV's rule); refuse modes with no fixed range."""
    if img.mode in _16BIT_MODES or (img.mode == "I" and img.format == "PNG"):
        arr = np.asarray(img).astype(np.uint32) >> 8
        return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "L")
    if img.mode in ("I", "F") or img.mode.startswith("I;"):
        raise BadSampleError(filename, f"image mode {img.mode} ({img.format}) has no fixed value "
                             "range; convert it to 8 or 16 bits per channel")
    return img


def read_image(filename, color_type="color", channel_order="bgr"):
    return read_image_and_orientation(filename, color_type, channel_order)[0]


def read_image_and_orientation(filename, color_type="color", channel_order="bgr"):
    """(uint8 array, EXIF orientation applied) of an image file; see the module doc."""
    img = _open_fully(filename, "image")
    if color_type == "unchanged":
        arr = np.array(img)
        if arr.ndim == 3 and arr.shape[2] >= 3 and channel_order == "bgr":
            arr[:, :, :3] = arr[:, :, 2::-1]
        return arr, 1
    if color_type not in ("color", "grayscale"):
        raise ValueError(f"color_type {color_type!r}: expected 'color', 'grayscale' or 'unchanged'")
    orientation = exif_orientation(img)  # applied as mmcv does for 'color'/'grayscale'
    img = make_upright(_to_8bit(img, filename), orientation)
    if color_type == "grayscale":
        return np.array(img.convert("L")), orientation
    if img.mode != "RGB":
        img = img.convert("RGB")
    if channel_order == "rgb":
        return np.array(img), orientation
    if channel_order != "bgr":
        raise ValueError(f"channel_order {channel_order!r}: expected 'bgr' or 'rgb'")
    # PIL's raw packer writes BGR directly (cheaper than reversing channels in numpy).
    raw = bytearray(img.tobytes("raw", "BGR"))
    return np.frombuffer(raw, dtype=np.uint8).reshape(img.size[1], img.size[0], 3), orientation


def read_label(filename, orientation=1):
    """A label PNG as uint8 (h, w) class ids (palette PNGs give their indices), turned by its
    image's EXIF ``orientation`` (the label's own EXIF, if any, is ignored: mmseg reads labels
    'unchanged')."""
    img = make_upright(_open_fully(filename, "label"), orientation)
    arr = np.array(img)
    if arr.ndim == 3:
        if arr.shape[2] == 1:
            arr = arr[:, :, 0]
        else:
            raise BadSampleError(filename, f"label has {arr.shape[2]} channels (mode {img.mode}); "
                                 "expected a single-channel PNG of class ids")
    if arr.dtype != np.uint8:
        if arr.size and (arr.min() < 0 or arr.max() > 255):
            raise BadSampleError(filename, f"label values span [{arr.min()}, {arr.max()}]; "
                                 "expected class ids in 0..255")
        arr = arr.astype(np.uint8)
    return arr


def label_lut(label_map=None, reduce_zero_label=False):
    """The uint8 lookup table for label_map then reduce_zero_label (mmseg's order), or None."""
    if not label_map and not reduce_zero_label:
        return None
    lut = np.arange(256, dtype=np.int64)
    if label_map:
        for old_id, new_id in label_map.items():
            lut[old_id] = new_id
    if reduce_zero_label:
        # 0 (other) -> 255 (ignore), v -> v-1, and 255 stays ignore (254 after the shift -> 255).
        lut = np.where(lut == 0, 255, lut - 1)
        lut[lut == 254] = 255
    return lut.astype(np.uint8)


def check_label_values(seg, num_classes, ignore_index, filename):
    """BadSampleError unless every value is in [0, num_classes) or equals ignore_index."""
    if seg.size == 0 or int(seg.max()) < num_classes:
        return
    if not np.count_nonzero((seg >= num_classes) & (seg != ignore_index)):
        return
    values = np.unique(seg)
    bad = values[(values >= num_classes) & (values != ignore_index)]
    if bad.size:
        shown = ", ".join(str(int(v)) for v in bad[:10]) + (" ..." if bad.size > 10 else "")
        raise BadSampleError(filename, f"label values {shown} outside [0, {num_classes}) and not "
                             f"the ignore index {ignore_index}")


@TRANSFORMS.register_module()
class LoadImageFromFile:
    """Read ``results['img_info']['filename']`` (under ``img_prefix``).

    Adds img, filename, ori_filename, img_shape, ori_shape, pad_shape, scale_factor=1.0 and an
    identity img_norm_cfg, as mmseg does.
    """

    def __init__(self, to_float32=False, color_type="color", file_client_args=None,
                 imdecode_backend="pillow", channel_order="bgr"):
        self.to_float32 = to_float32
        self.color_type = color_type
        self.channel_order = channel_order
        # file_client_args / imdecode_backend are accepted so mmseg configs load; PIL decodes.

    def __call__(self, results):
        ori_filename = results["img_info"]["filename"]
        prefix = results.get("img_prefix")
        filename = osp.join(prefix, ori_filename) if prefix is not None else ori_filename
        img, orientation = read_image_and_orientation(filename, self.color_type,
                                                      self.channel_order)
        if self.to_float32:
            img = img.astype(np.float32)
        results["filename"] = filename
        results["ori_filename"] = ori_filename
        results["img"] = img
        results["img_shape"] = img.shape
        results["ori_shape"] = img.shape
        results["pad_shape"] = img.shape
        results["scale_factor"] = 1.0
        results["exif_orientation"] = orientation  # LoadAnnotations turns the label alike
        channels = 1 if img.ndim < 3 else img.shape[2]
        results["img_norm_cfg"] = dict(mean=np.zeros(channels, dtype=np.float32),
                                       std=np.ones(channels, dtype=np.float32), to_rgb=False)
        return results

    def __repr__(self):
        return (f"{type(self).__name__}(to_float32={self.to_float32}, "
                f"color_type={self.color_type!r}, channel_order={self.channel_order!r})")


@TRANSFORMS.register_module()
class LoadAnnotations:
    """Read the label map ``results['ann_info']['seg_map']`` (under ``seg_prefix``).

    Applies ``results['label_map']`` (custom class subsets) and then reduce_zero_label. When the
    dataset put ``num_classes``/``ignore_index`` in results, the values are checked; when an image
    is loaded, its size must match the label's. The label is turned by
    ``results['exif_orientation']`` (its image's EXIF orientation; see the module doc).
    """

    def __init__(self, reduce_zero_label=False, file_client_args=None, imdecode_backend="pillow"):
        self.reduce_zero_label = reduce_zero_label

    def __call__(self, results):
        seg_map = results["ann_info"]["seg_map"]
        prefix = results.get("seg_prefix")
        filename = osp.join(prefix, seg_map) if prefix is not None else seg_map
        seg = read_label(filename, results.get("exif_orientation", 1))
        img = results.get("img")
        if img is not None and img.shape[:2] != seg.shape:
            raise BadSampleError(filename, f"label size (h, w)={seg.shape} differs from image size "
                                 f"{img.shape[:2]} of {results.get('filename')}")
        lut = label_lut(results.get("label_map"), self.reduce_zero_label)
        if lut is not None:
            seg = np.take(lut, seg)
        num_classes = results.get("num_classes")
        if num_classes is not None:
            check_label_values(seg, num_classes, results.get("ignore_index", 255), filename)
        results["gt_semantic_seg"] = seg
        results.setdefault("seg_fields", []).append("gt_semantic_seg")
        return results

    def __repr__(self):
        return f"{type(self).__name__}(reduce_zero_label={self.reduce_zero_label})"

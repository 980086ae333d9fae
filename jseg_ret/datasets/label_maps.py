"""Label id tables shared by datasets, converters and evaluation export.

Cityscapes: the official 34 labels (cityscapesScripts ``labels.py``) with their trainIds (19
classes, 255 = ignore). COCO-Stuff: the 182 raw ids of which 11 thing ids are never used, leaving
171 train ids. iSAID: the RGB colours of its 16 classes.
"""
import numpy as np

# (name, id, trainId, color) — cityscapesScripts helpers/labels.py
CITYSCAPES_LABELS = (
    ("unlabeled", 0, 255, (0, 0, 0)),
    ("ego vehicle", 1, 255, (0, 0, 0)),
    ("rectification border", 2, 255, (0, 0, 0)),
    ("out of roi", 3, 255, (0, 0, 0)),
    ("static", 4, 255, (0, 0, 0)),
    ("dynamic", 5, 255, (111, 74, 0)),
    ("ground", 6, 255, (81, 0, 81)),
    ("road", 7, 0, (128, 64, 128)),
    ("sidewalk", 8, 1, (244, 35, 232)),
    ("parking", 9, 255, (250, 170, 160)),
    ("rail track", 10, 255, (230, 150, 140)),
    ("building", 11, 2, (70, 70, 70)),
    ("wall", 12, 3, (102, 102, 156)),
    ("fence", 13, 4, (190, 153, 153)),
    ("guard rail", 14, 255, (180, 165, 180)),
    ("bridge", 15, 255, (150, 100, 100)),
    ("tunnel", 16, 255, (150, 120, 90)),
    ("pole", 17, 5, (153, 153, 153)),
    ("polegroup", 18, 255, (153, 153, 153)),
    ("traffic light", 19, 6, (250, 170, 30)),
    ("traffic sign", 20, 7, (220, 220, 0)),
    ("vegetation", 21, 8, (107, 142, 35)),
    ("terrain", 22, 9, (152, 251, 152)),
    ("sky", 23, 10, (70, 130, 180)),
    ("person", 24, 11, (220, 20, 60)),
    ("rider", 25, 12, (255, 0, 0)),
    ("car", 26, 13, (0, 0, 142)),
    ("truck", 27, 14, (0, 0, 70)),
    ("bus", 28, 15, (0, 60, 100)),
    ("caravan", 29, 255, (0, 0, 90)),
    ("trailer", 30, 255, (0, 0, 110)),
    ("train", 31, 16, (0, 80, 100)),
    ("motorcycle", 32, 17, (0, 0, 230)),
    ("bicycle", 33, 18, (119, 11, 32)),
    ("license plate", -1, -1, (0, 0, 142)),
)
CITYSCAPES_NAME_TO_LABEL = {name: (lid, tid) for name, lid, tid, _ in CITYSCAPES_LABELS}


def cityscapes_id_to_trainid_lut():
    """uint8[256]: labelId -> trainId; every id that is not one of the 19 classes -> 255."""
    lut = np.full(256, 255, dtype=np.uint8)
    for _, lid, tid, _ in CITYSCAPES_LABELS:
        if lid >= 0 and 0 <= tid < 255:
            lut[lid] = tid
    return lut


def cityscapes_trainid_to_id_lut():
    """uint8[256]: trainId -> labelId; 255 and unused values -> 0 (unlabeled).

    Same as cityscapesScripts' trainId2label (which keeps the first label listed for 255).
    """
    lut = np.zeros(256, dtype=np.uint8)
    for _, lid, tid, _ in CITYSCAPES_LABELS:
        if 0 <= tid < 255:
            lut[tid] = lid
    return lut


def cityscapes_id_palette():
    """Flat 768-entry palette colouring labelId PNGs with the official colours."""
    pal = np.zeros((256, 3), dtype=np.uint8)
    for _, lid, _, color in CITYSCAPES_LABELS:
        if lid >= 0:
            pal[lid] = color
    return pal.ravel().tolist()


# COCO-Stuff: 0-based raw ids (as in stuffthingmaps PNGs) of the 11 COCO thing classes that were
# never annotated. The remaining 171 ids, in order, are the train ids 0..170.
COCO_STUFF_UNUSED_IDS = (11, 25, 28, 29, 44, 65, 67, 68, 70, 82, 90)
COCO_STUFF_NUM_RAW = 182
COCO_STUFF_USED_IDS = tuple(i for i in range(COCO_STUFF_NUM_RAW) if i not in COCO_STUFF_UNUSED_IDS)


def coco_stuff164k_lut():
    """uint8[256] for stuffthingmaps PNGs: raw id (0-based) -> train id 0..170; unused and
    255 (unlabeled) -> 255."""
    lut = np.full(256, 255, dtype=np.uint8)
    for train_id, raw_id in enumerate(COCO_STUFF_USED_IDS):
        lut[raw_id] = train_id
    return lut


def coco_stuff10k_lut():
    """uint8[256] for the 10k .mat labels (1-based, 0 = unlabeled): raw id -> train id 1..171,
    0 and unused ids -> 0. The 10k datasets use reduce_zero_label, as mmseg's converter does."""
    lut = np.zeros(256, dtype=np.uint8)
    for train_id, raw_id in enumerate(COCO_STUFF_USED_IDS):
        lut[raw_id + 1] = train_id + 1
    return lut


# iSAID class colours (RGB) of the *_instance_color_RGB.png semantic masks; index = class id.
ISAID_PALETTE = ((0, 0, 0), (0, 0, 63), (0, 63, 63), (0, 63, 0), (0, 63, 127), (0, 63, 191),
                 (0, 63, 255), (0, 127, 63), (0, 127, 127), (0, 0, 127), (0, 0, 191),
                 (0, 0, 255), (0, 191, 127), (0, 127, 191), (0, 127, 255), (0, 100, 155))


def rgb_to_class_ids(rgb, palette, unknown=0):
    """(h, w, 3) uint8 colours -> (h, w) uint8 class ids by exact match; others -> unknown."""
    codes = (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2]
    pal_codes = np.array([(r << 16) | (g << 8) | b for r, g, b in palette], dtype=np.int32)
    order = np.argsort(pal_codes)
    sorted_codes = pal_codes[order]
    pos = np.clip(np.searchsorted(sorted_codes, codes), 0, len(sorted_codes) - 1)
    hit = sorted_codes[pos] == codes
    return np.where(hit, order[pos], unknown).astype(np.uint8)

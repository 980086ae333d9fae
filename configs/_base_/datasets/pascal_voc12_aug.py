# dataset settings (mmseg 0.x pascal_voc12_aug.py): VOC train + SBD aug (a ConcatDataset of the
# two (ann_dir, split) pairs); SegmentationClassAug and aug.txt come from
# tools/convert_datasets/voc_aug.py
_base_ = './pascal_voc12.py'
data = dict(
    train=dict(
        ann_dir=['SegmentationClass', 'SegmentationClassAug'],
        split=[
            'ImageSets/Segmentation/train.txt',
            'ImageSets/Segmentation/aug.txt'
        ]))

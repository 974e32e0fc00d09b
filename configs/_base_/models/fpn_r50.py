# FPN-R50 (study: 26.9M params): mmseg's semantic FPN unchanged (ResNetV1c-50, 256-channel FPN neck,
# 128-channel FPN head), 5 classes: 28.6M, +6% (mmseg's neck adds 3x3 output convs that the study's
# FPN seemingly lacks; within the +-10% we accept, so the stock model and its pretraining are kept).
_base_ = 'mmseg::_base_/models/fpn_r50.py'
model = dict(
    data_preprocessor=dict(size=(512, 512)),  # = the datasets' crop_size
    decode_head=dict(num_classes=5))

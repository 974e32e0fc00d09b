# PSPNet-R18 as in the study (2.1M params with 5 classes). mmseg's PSPNet-R18-D8 has 12.8M: it keeps
# all four ResNet-18 stages (dilated to stride 8) plus an FCN auxiliary head. The study's PSPNet is
# much shallower: ResNet-18 cut after stage 2 (64/128 channels, output stride 8 without dilation,
# the design of smp's PSPNet with encoder_depth=3), one PSP head and no auxiliary head. With a
# 176-channel PSP head the model totals 2.11M (backbone 0.70M + head 1.41M).
_base_ = 'mmseg::_base_/models/pspnet_r50-d8.py'
model = dict(
    data_preprocessor=dict(size=(512, 512)),  # = the datasets' crop_size
    pretrained='open-mmlab://resnet18_v1c',  # ImageNet; its stage-3/4 weights are simply unused
    backbone=dict(depth=18, num_stages=2, out_indices=(0, 1), strides=(1, 2), dilations=(1, 1)),
    decode_head=dict(in_channels=128, in_index=1, channels=176, num_classes=5),
    auxiliary_head=None)

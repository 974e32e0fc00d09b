# UperNet + ConvNeXt-Base of the study (101.9M params, test mIoU 81.23). mmseg's has 122.0M
# (512-channel UPerHead + auxiliary head); with the study's narrower head (256 channels, no
# auxiliary head, as for ConvNeXt-T): ConvNeXt-B 87.6M + UPerHead 10.1M = 97.7M (-4%).
_base_ = './upernet_convnext_t_vn.py'
model = dict(
    backbone=dict(
        arch='base',
        init_cfg=dict(
            checkpoint='https://download.openmmlab.com/mmclassification/v0/convnext/downstream/convnext-base_3rdparty_32xb128-noema_in1k_20220301-2a0ee547.pth')),
    decode_head=dict(in_channels=[128, 256, 512, 1024]))

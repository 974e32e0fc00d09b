# UNet-R50 (study: 32.5M params): ImageNet ResNetV1c-50 (23.5M, stages at strides 4/8/16/32) and
# vnseg's UNetHead (vnseg/models/unet_head.py, 9.0M): skips from all four stages, decoder widths
# 256/128/64/32/16 (the smp U-Net's), logits at full resolution. No auxiliary head.
_base_ = 'mmseg::_base_/models/upernet_r50.py'
model = dict(
    data_preprocessor=dict(size=(512, 512)),  # = the datasets' crop_size
    decode_head=dict(
        _delete_=True,
        type='UNetHead',
        in_channels=[256, 512, 1024, 2048],
        in_index=[0, 1, 2, 3],
        decoder_channels=(256, 128, 64, 32, 16),
        dropout_ratio=0.1,
        num_classes=5,
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    auxiliary_head=None)

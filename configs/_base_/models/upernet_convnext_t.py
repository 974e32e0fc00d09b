# UperNet + ConvNeXt-T as in the study (37.0M params). mmseg's UperNet-ConvNeXt-T has 60.1M: a
# 512-channel UPerHead (31M) plus an FCN auxiliary head. The study's head is narrower: 256 channels,
# no auxiliary head -> ConvNeXt-T 27.8M + UPerHead 9.2M = 37.0M.
# Built on mmseg's upernet_r50 base (not upernet_convnext.py, whose `custom_imports` would clash
# with default_runtime's); 'mmpretrain.ConvNeXt' is found through mmpretrain's registry.
_base_ = 'mmseg::_base_/models/upernet_r50.py'
model = dict(
    data_preprocessor=dict(size=(512, 512)),  # = the datasets' crop_size
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='mmpretrain.ConvNeXt',
        arch='tiny',
        out_indices=[0, 1, 2, 3],
        drop_path_rate=0.4,
        layer_scale_init_value=1.0,
        gap_before_final_norm=False,
        init_cfg=dict(
            type='Pretrained', prefix='backbone.',
            checkpoint='https://download.openmmlab.com/mmclassification/v0/convnext/downstream/convnext-tiny_3rdparty_32xb128-noema_in1k_20220301-795e9634.pth')),
    decode_head=dict(in_channels=[96, 192, 384, 768], channels=256, num_classes=5),
    auxiliary_head=None)

# UperNet-ConvNeXt-B with vnseg's recipe (the study's recipe: configs/upernet_convnext_b_vn.py).
_base_ = './upernet_convnext_t_recipe_vn.py'
model = dict(
    backbone=dict(
        arch='base',
        init_cfg=dict(
            checkpoint='https://download.openmmlab.com/mmclassification/v0/convnext/downstream/convnext-base_3rdparty_32xb128-noema_in1k_20220301-2a0ee547.pth')),
    decode_head=dict(in_channels=[128, 256, 512, 1024]))

# SegFormer-B0 as in the study (3.7M params with 5 classes): mmseg's model unchanged (MiT-B0 and a
# 256-channel all-MLP head), ImageNet-pretrained MiT-B0 from mmseg's official checkpoint.
# B3/B5 (configs/segformer_b3_vn.py, _b5_vn.py) widen the head to 768 channels, as the study's.
_base_ = 'mmseg::_base_/models/segformer_mit-b0.py'
model = dict(
    data_preprocessor=dict(size=(512, 512)),  # = the datasets' crop_size
    backbone=dict(init_cfg=dict(
        type='Pretrained',
        checkpoint='https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/segformer/mit_b0_20220624-7e0fe6dd.pth')),
    decode_head=dict(num_classes=5))

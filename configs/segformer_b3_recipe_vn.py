# SegFormer-B3 with vnseg's recipe: configs/segformer_b0_recipe_vn.py widened as segformer_b3_vn.py
# widens the study's B0 (the study's B3 recipe: configs/segformer_b3_vn.py).
_base_ = './segformer_b0_recipe_vn.py'
model = dict(
    backbone=dict(
        embed_dims=64, num_heads=[1, 2, 5, 8], num_layers=[3, 4, 18, 3],
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/segformer/mit_b3_20220624-13b1141c.pth')),
    decode_head=dict(in_channels=[64, 128, 320, 512], channels=768))

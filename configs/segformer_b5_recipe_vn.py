# SegFormer-B5 with vnseg's recipe (the study's B5 recipe: configs/segformer_b5_vn.py).
_base_ = './segformer_b0_recipe_vn.py'
model = dict(
    backbone=dict(
        embed_dims=64, num_heads=[1, 2, 5, 8], num_layers=[3, 6, 40, 3],
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/segformer/mit_b5_20220624-658746d9.pth')),
    decode_head=dict(in_channels=[64, 128, 320, 512], channels=768))

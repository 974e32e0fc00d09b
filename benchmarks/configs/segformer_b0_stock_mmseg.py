# The reference of benchmarks/recipe_quality.py: stock mmseg's SegFormer recipe
# (mmseg configs/segformer/segformer_mit-b0_8xb2-160k_ade20k-512x512.py) on vnseg's whole scenes,
# adapted only in crop (set by the benchmark), number of classes and, training from scratch, the
# learning rate (6e-4, ten times the fine-tuning 6e-5). The scale ratio 0.5-1.5 around 1024 px
# keeps the scenes (510-1126 px) near their own resolution, as mmseg's scale does for ADE20K.
_base_ = [
    '../../configs/_base_/models/segformer_mit-b0.py',
    '../../configs/_base_/datasets/vn_drone.py',
    '../../configs/_base_/default_runtime.py',
]
crop_size = (512, 512)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(1024, 1024), ratio_range=(0.5, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
scenes = dict(img_path='scenes/img', seg_map_path='scenes/ann')
train_dataloader = dict(
    batch_size=8, dataset=dict(data_prefix=scenes, ann_file='scenes/train.txt', pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(data_prefix=scenes, ann_file='scenes/val.txt'))
test_dataloader = dict(dataset=dict(data_prefix=scenes, ann_file='scenes/test.txt'))
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=6e-4, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(custom_keys={
        'pos_block': dict(decay_mult=0.0), 'norm': dict(decay_mult=0.0), 'head': dict(lr_mult=10.0)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=160000, by_epoch=False),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=160000, val_interval=16000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=16000))

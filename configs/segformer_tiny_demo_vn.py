# A tiny SegFormer (MiT with 1 block per stage, 16-dim stem; 0.52M params) that trains in minutes on CPU.
# Used by `make demo` and by the test suite's train/test/resume/distributed checks. Not a study model.
_base_ = [
    'mmseg::_base_/models/segformer_mit-b0.py',
    './_base_/datasets/vn_drone.py',
    './_base_/default_runtime.py',
]
crop_size = (128, 128)
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(embed_dims=16, num_layers=[1, 1, 1, 1], drop_path_rate=0.0),
    decode_head=dict(in_channels=[16, 32, 80, 128], channels=64, num_classes=5, norm_cfg=norm_cfg))

data_root = 'work_dirs/demo/dataset'
train_dataloader = dict(batch_size=8, num_workers=2, dataset=dict(data_root=data_root))
val_dataloader = dict(num_workers=1, dataset=dict(data_root=data_root))
test_dataloader = dict(num_workers=1, dataset=dict(data_root=data_root))

optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=3e-3, weight_decay=0.0))
param_scheduler = [dict(type='PolyLR', eta_min=1e-5, power=1.0, begin=0, end=600, by_epoch=False)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=600, val_interval=200)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=20, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=200, max_keep_ckpts=2),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))

# A tiny SegFormer (MiT with 1 block per stage, 16-dim stem; 0.52M params) that trains in minutes on CPU.
# Used by `make demo` and by the test suite's train/test/resume/distributed checks. Not a study model.
_base_ = [
    'mmseg::_base_/models/segformer_mit-b0.py',
    './_base_/datasets/vn_drone.py',
    './_base_/schedules/study_adam_200e.py',
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

# The study's schedule, shortened: 600 iterations, a higher lr, poly decay; val/checkpoints every 200.
optim_wrapper = dict(optimizer=dict(lr=3e-3))
param_scheduler = [dict(type='PolyLR', eta_min=1e-5, power=1.0, begin=0, end=600, by_epoch=False)]
train_cfg = dict(max_iters=600, val_interval=200)
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(interval=200))

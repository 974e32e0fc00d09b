# The study's schedule: Adam, lr 1e-3, batch 16, 200 epochs, then a reduced learning rate until
# convergence. Iteration-based, as mmseg's schedules:
#   one epoch = the study's 6228 training patches / batch 16 -> ceil = 390 iterations;
#   epochs 1-200 at lr 1e-3: iterations 0-78,000;
#   "reduced lr until convergence": lr 1e-4 (x0.1) for up to 50 more epochs (to 97,500); the
#   checkpoint with the best validation mIoU is kept (save_best), so stopping earlier once val mIoU
#   has flattened loses nothing.
# Validation and checkpoints every 5 epochs (1,950 iterations).
# Batch 16 is set by the dataset bases; batch_size is per GPU in mmengine: for `tools/dist_train.sh CONFIG N` add
# `--cfg-options train_dataloader.batch_size=<16 / N>` to keep the study's batch of 16.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.0),
    clip_grad=None)
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=97500, milestones=[78000], gamma=0.1)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=97500, val_interval=1950)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # vnseg's CheckpointHook: a kill mid-save leaves the previous checkpoint and --resume working
    checkpoint=dict(type='AtomicCheckpointHook', by_epoch=False, interval=1950, max_keep_ckpts=2,
                    save_best='mIoU', rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
# `--auto-scale-lr` scales lr linearly from this reference batch when the total batch differs.
auto_scale_lr = dict(enable=False, base_batch_size=16)

# A reference row of benchmarks/recipe_quality.py: the plain mmseg config a user writes in ten minutes.
# stock mmseg's SegFormer recipe (segformer_b0_stock_mmseg.py: same augmentation, AdamW 6e-4) WITHOUT
# per-parameter multipliers (no x10 decode head, weight decay on every parameter) and with a
# 100-iteration linear warm-up then poly decay, written for the benchmark's 750 iterations (the
# benchmark rescales both in proportion to another budget).
_base_ = ['./segformer_b0_stock_mmseg.py']
max_iters = 750
optim_wrapper = dict(_delete_=True, type='OptimWrapper',
                     optimizer=dict(type='AdamW', lr=6e-4, betas=(0.9, 0.999), weight_decay=0.01))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=100),
    dict(type='PolyLR', eta_min=0.0, power=1.0, by_epoch=False, begin=100, end=max_iters),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=max_iters))

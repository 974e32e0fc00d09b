# vnseg's training recipe for your own scenes (README "Train on your scenes", docs/training.md): all but
# the model. Measured against stock mmseg's SegFormer recipe by benchmarks/recipe_quality.py.
# A zoo model gets it with (see configs/segformer_b0_recipe_vn.py):
#   _base_ = ['./_base_/models/<model>.py', './_base_/recipes/vnseg_recipe.py']
#   model = dict(decode_head=dict(loss_decode={{_base_.decode_loss}}))
# Data: the WHOLE scenes tools/prepare_dataset.py writes (OUT/scenes/img|ann, split lists
# OUT/scenes/<split>.txt), cropped online -- not the fixed offline patches of the study.
# The study's configs keep the study's recipe (_base_/schedules/study_adam_200e.py).
_base_ = ['../datasets/vn_drone.py', '../default_runtime.py']
crop_size = (512, 512)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    # online multi-scale around each scene's own ground resolution (vnseg.datasets.transforms)
    dict(type='RandomRescale', ratio_range=(0.5, 2.0)),
    # mmseg's crop, re-drawn (up to 10 times) while one class covers over 75 % of it. vnseg's
    # ClassAwareRandomCrop (half of the crops centred on water or trees) lowered the validation mIoU
    # (docs/results.md): it is available, not in the recipe
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    # nadir views have no "up": horizontal, vertical and both flips
    dict(type='RandomFlip', prob=[0.25, 0.25, 0.25], direction=['horizontal', 'vertical', 'diagonal']),
    # no PhotoMetricDistortion: validated on a held-out tile it lowered the mIoU (docs/results.md);
    # `vnseg-photometric` in the benchmark adds it back
    dict(type='PackSegInputs'),
]
scenes = dict(img_path='scenes/img', seg_map_path='scenes/ann')
train_dataloader = dict(
    batch_size=8, dataset=dict(data_prefix=scenes, ann_file='scenes/train.txt', pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(data_prefix=scenes, ann_file='scenes/val.txt'))
test_dataloader = dict(dataset=dict(data_prefix=scenes, ann_file='scenes/test.txt'))

# cross-entropy + a soft Dice per class, averaged over the classes (vnseg's ClassDiceLoss: every class
# weighs as in mIoU, so water and trees count as much as the background). mmseg's DiceLoss is one
# overlap over all classes and pixels together; mmseg's LovaszLoss (`vnseg-lovasz` in the benchmark)
# is the alternative, its sorts make a SegFormer-B0 step on CPU several times slower.
# The cross-entropy is weighted per class by the prepared data's class_weights.json (1/sqrt of each
# class's share of the train pixels, mean 1; written by tools/prepare_dataset.py): ClassWeightsHook
# below reads it from the train data root when training starts (vnseg.engine.hooks; the model config
# holds no file, so the config builds a model to predict with anywhere, without the data); chosen on
# a held-out tile (docs/results.md).
# `vnseg-no_class_weights` in the benchmark removes the hook.
decode_loss = [
    dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
    dict(type='ClassDiceLoss', loss_weight=1.0),
]

# AdamW, linear warm-up (5 %) then poly decay; no weight decay on norms and position blocks; the
# decode head (new layers in every model) learns 10x faster, as in mmseg's SegFormer recipe
max_iters = 20000
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(custom_keys={
        'norm': dict(decay_mult=0.0), 'pos_block': dict(decay_mult=0.0), 'head': dict(lr_mult=10.0)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=max_iters // 20),
    dict(type='PolyLR', eta_min=0.0, power=1.0, by_epoch=False, begin=max_iters // 20, end=max_iters),
]
# On a CPU (only): the SegFormer head trains as FusedSegformerHead (the same model computed in a cheaper
# order) and each train scene is decoded once per data-loader worker (CachedLoadImageFromFile, at most
# 512 MiB of images per worker): more training steps/s, the same loss curve (docs/results.md, "CPU speed").
# `vnseg train --no-cpu-speedups` turns them off. bf16 autocast (`bf16=True`) is not adopted: its test
# mIoU moved by more than seed noise, either way (docs/results.md); `vnseg-cpu_bf16` in the benchmark
# measures it
cpu_speedups = dict(fused_head=True, image_cache_mb=512)
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters // 10)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
# an exponential moving average of the weights (window ~ max_iters / 10); checkpoints hold the EMA.
# The class weights of the cross-entropy (see decode_loss): <train data_root>/class_weights.json
custom_hooks = [dict(type='EMAHook', momentum=10.0 / max_iters, priority='ABOVE_NORMAL'),
                dict(type='ClassWeightsHook', file='class_weights.json')]
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=max_iters // 10, max_keep_ckpts=2,
                    save_best='mIoU', rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
# whole-scene inference (vnseg.apis.infer_large_image / tools/infer_large_image.py). No flip TTA:
# it gained ~0.6 in-tile but cost ~0.2 on a held-out tile (docs/results.md)
whole_scene_inference = dict(tile=512, overlap=128, tta_flip=False)

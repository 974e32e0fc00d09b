# vnseg's recipe (./vnseg_recipe.py) plus distillation from a teacher's CACHED soft labels: no teacher
# runs while training. Make the cache first (docs/training.md "Distillation from a cache"):
#   vnseg teacher-labels TEACHER_CONFIG TEACHER_CKPT [CONFIG CKPT ...] --data data/vn_drone \
#       [--unlabelled flights/ ...] --out-dir data/vn_drone/teacher_cache
# A zoo model gets it with (see configs/segformer_b0_kd_cached_recipe_vn.py):
#   _base_ = ['./_base_/models/<model>.py', './_base_/recipes/vnseg_kd_cached_recipe.py']
#   model = dict(type='CachedDistillSegmentor', decode_head=dict(loss_decode={{_base_.decode_loss}}),
#                distill_loss={{_base_.distill_loss}}, min_confidence={{_base_.min_confidence}})
# Elsewhere: vnseg.distill.teacher_cache.use_teacher_cache(cfg, DIR) points every use at DIR.
_base_ = ['./vnseg_recipe.py']
teacher_cache = 'data/vn_drone/teacher_cache'
# the recipe's augmentation; the soft labels are a seg field that every geometric step moves with the
# image: RandomCrop crops every seg field, RandomRescale resizes the soft ones bilinearly, and
# mmcv's RandomFlip flips gt_seg_map only, hence RandomFlipSegFields
kd_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotationsOrIgnore'),  # unlabelled images: an all-255 mask (KD term only)
    dict(type='LoadTeacherProbs', cache_dir=teacher_cache),
    dict(type='RandomRescale', ratio_range=(0.5, 2.0)),
    dict(type='RandomCrop', crop_size={{_base_.crop_size}}, cat_max_ratio=0.75),
    dict(type='RandomFlipSegFields', prob=[0.25, 0.25, 0.25], direction=['horizontal', 'vertical', 'diagonal']),
    dict(type='PackSegInputsWithSoftLabels'),
]
train_dataloader = dict(dataset=dict(_delete_=True, type='ConcatDataset', datasets=[
    dict(type='VNDroneDataset', data_root={{_base_.data_root}}, data_prefix={{_base_.scenes}},
         ann_file='scenes/train.txt', pipeline=kd_pipeline),
    # the cache's unlabelled images (none when it was made without --unlabelled)
    dict(type='TeacherCacheImages', cache_dir=teacher_cache, pipeline=kd_pipeline)]))
# CachedDistillSegmentor's KD term: the study's pixel-wise KL (vnseg.models.losses.PixelKDLoss), and
# the teacher's largest probability needed on an unlabelled pixel (0 = every pixel counts)
distill_loss = dict(type='PixelKDLoss', temperature=1.0, loss_weight=1.0)
min_confidence = 0.0

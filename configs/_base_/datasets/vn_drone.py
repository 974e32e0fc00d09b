# VNDroneDataset: the patches written by tools/prepare_dataset.py (512x512, already offline-augmented).
dataset_type = 'VNDroneDataset'
data_root = 'data/vn_drone'
crop_size = (512, 512)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=1.0),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
# Test-time augmentation (`tools/test.py --tta`): every image at 3 scales x {as is, mirrored}; the
# model (mmseg's SegTTAModel, `tta_model` in default_runtime) averages the 6 softmax maps, each
# resized back (and un-mirrored) to the image. Ground truth is loaded after resizing: full size.
tta_scales = [0.75, 1.0, 1.25]
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='TestTimeAug', transforms=[
        [dict(type='Resize', scale_factor=s, keep_ratio=True) for s in tta_scales],
        [dict(type='RandomFlip', prob=0.0, direction='horizontal'),
         dict(type='RandomFlip', prob=1.0, direction='horizontal')],
        [dict(type='LoadAnnotations')],
        [dict(type='PackSegInputs')],
    ]),
]


train_dataloader = dict(
    batch_size=16, num_workers=4, persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type, data_root=data_root, pipeline=train_pipeline,
        data_prefix=dict(img_path='img_dir/train', seg_map_path='ann_dir/train')))
val_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type, data_root=data_root, pipeline=test_pipeline,
        data_prefix=dict(img_path='img_dir/val', seg_map_path='ann_dir/val')))
test_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type, data_root=data_root, pipeline=test_pipeline,
        data_prefix=dict(img_path='img_dir/test', seg_map_path='ann_dir/test')))
# VNIoUMetric = mmseg's IoUMetric + per-class IoU.<class>/Acc.<class> keys and the confusion matrix
val_evaluator = dict(type='VNIoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator

# OpenEarthMap (OEM) for pretraining, labels remapped onto vnseg's 5 classes by OpenEarthMapDataset
# (vnseg/datasets/openearthmap.py: unknown -> 255; road, water, tree, building -> ours; bareland,
# rangeland, developed space, agriculture -> background with label_mode='merge', or -> 255 with
# 'safe' for the ablation: --cfg-options train_dataloader.dataset.label_mode=safe
# val_dataloader.dataset.label_mode=safe test_dataloader.dataset.label_mode=safe).
# Layout: the OpenEarthMap_wo_xBD download placed (or symlinked) at data/openearthmap:
#   data/openearthmap/{train,val}.txt, data/openearthmap/<region>/{images,labels}/<region>_<n>.tif
# TIFFs are read with rasterio (LoadImageFromRasterio gives BGR like cv2, so the PNG-trained
# data_preprocessor applies unchanged). OEM's test labels are not public: test = val.
dataset_type = 'OpenEarthMapDataset'
data_root = 'data/openearthmap'
crop_size = (512, 512)

train_pipeline = [
    dict(type='LoadImageFromRasterio'),
    dict(type='LoadAnnotationsFromRasterio'),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=1.0),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromRasterio'),
    dict(type='LoadAnnotationsFromRasterio'),
    dict(type='PackSegInputs'),
]
# `tools/test.py --tta`: 3 scales x {as is, mirrored}, averaged by SegTTAModel (as vn_drone.py).
tta_scales = [0.75, 1.0, 1.25]
tta_pipeline = [
    dict(type='LoadImageFromRasterio'),
    dict(type='TestTimeAug', transforms=[
        [dict(type='Resize', scale_factor=s, keep_ratio=True) for s in tta_scales],
        [dict(type='RandomFlip', prob=0.0, direction='horizontal'),
         dict(type='RandomFlip', prob=1.0, direction='horizontal')],
        [dict(type='LoadAnnotationsFromRasterio')],
        [dict(type='PackSegInputs')],
    ]),
]

train_dataloader = dict(
    batch_size=16, num_workers=4, persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, ann_file='train.txt',
                 label_mode='merge', pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, ann_file='val.txt',
                 label_mode='merge', pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='VNIoUMetric', iou_metrics=['mIoU'])  # as vn_drone.py: + per-class IoU
test_evaluator = val_evaluator

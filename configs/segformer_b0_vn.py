# SegFormer-B0 of the study (3.7M params, test mIoU 79.73; 80.65 after OEM pretraining):
# mmseg's SegFormer-B0 as is (_base_/models/segformer_mit-b0.py), the study's Adam schedule.
_base_ = [
    './_base_/models/segformer_mit-b0.py',
    './_base_/datasets/vn_drone.py',
    './_base_/default_runtime.py',
    './_base_/schedules/study_adam_200e.py',
]

# UNet-R50 of the study (32.5M params, test mIoU 80.66): ResNet-50 + vnseg's UNetHead
# (_base_/models/unet_r50.py), the study's Adam schedule.
_base_ = [
    './_base_/models/unet_r50.py',
    './_base_/datasets/vn_drone.py',
    './_base_/default_runtime.py',
    './_base_/schedules/study_adam_200e.py',
]

# PSPNet-R18 of the study (2.1M params, test mIoU 77.98). The shallow PSPNet and why:
# _base_/models/pspnet_r18.py. Schedule: the study's (Adam 1e-3, batch 16, 200 epochs, then 1e-4).
_base_ = [
    './_base_/models/pspnet_r18.py',
    './_base_/datasets/vn_drone.py',
    './_base_/default_runtime.py',
    './_base_/schedules/study_adam_200e.py',
]

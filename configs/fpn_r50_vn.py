# FPN-R50 of the study (26.9M params, test mIoU 81.60): mmseg's semantic FPN, 28.6M
# (_base_/models/fpn_r50.py says why +6% is kept), the study's Adam schedule.
_base_ = [
    './_base_/models/fpn_r50.py',
    './_base_/datasets/vn_drone.py',
    './_base_/default_runtime.py',
    './_base_/schedules/study_adam_200e.py',
]

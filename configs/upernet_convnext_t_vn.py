# UperNet + ConvNeXt-T of the study (37.0M params, test mIoU 81.91; 82.49 after OEM
# pretraining): 256-channel UPerHead, no auxiliary head (_base_/models/upernet_convnext_t.py).
# Plain fp32 OptimWrapper with the study's Adam (mmseg's own ConvNeXt recipes use AMP + AdamW).
_base_ = [
    './_base_/models/upernet_convnext_t.py',
    './_base_/datasets/vn_drone.py',
    './_base_/default_runtime.py',
    './_base_/schedules/study_adam_200e.py',
]

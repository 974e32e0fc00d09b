# OpenEarthMap pretraining of SegFormer-B0 (ImageNet MiT-B0 -> OEM, vnseg's 5 classes),
# to be fine-tuned by segformer_b0_oem_ft_vn.py. Schedule: _base_/schedules/oem_pretrain_adam.py.
_base_ = [
    './_base_/models/segformer_mit-b0.py',
    './_base_/datasets/openearthmap.py',
    './_base_/default_runtime.py',
    './_base_/schedules/oem_pretrain_adam.py',
]

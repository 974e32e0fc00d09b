# OpenEarthMap pretraining of UperNet-ConvNeXt-T (ImageNet backbone -> OEM, vnseg's 5 classes),
# to be fine-tuned by upernet_convnext_t_oem_ft_vn.py. Schedule: _base_/schedules/oem_pretrain_adam.py.
_base_ = [
    './_base_/models/upernet_convnext_t.py',
    './_base_/datasets/openearthmap.py',
    './_base_/default_runtime.py',
    './_base_/schedules/oem_pretrain_adam.py',
]

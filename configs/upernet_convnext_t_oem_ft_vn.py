# UperNet-ConvNeXt-T pretrained on OpenEarthMap, fine-tuned on vnseg (study: 81.91 -> 82.49 mIoU).
# First run `python tools/train.py configs/upernet_convnext_t_oem_pretrain.py`: its last checkpoint
# (work dir work_dirs/<config name>/, iteration = that schedule's max_iters, 47000) is loaded here,
# every weight including the decode head (both runs predict vnseg's 5 classes). Then the study's
# schedule as from ImageNet. Another checkpoint: --cfg-options load_from=PATH.
_base_ = './upernet_convnext_t_vn.py'
load_from = 'work_dirs/upernet_convnext_t_oem_pretrain/iter_47000.pth'
model = dict(backbone=dict(init_cfg=None))  # load_from replaces it: skip the ImageNet download

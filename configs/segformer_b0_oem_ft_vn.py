# SegFormer-B0 pretrained on OpenEarthMap, fine-tuned on vnseg (study: 79.73 -> 80.65 mIoU).
# First run `python tools/train.py configs/segformer_b0_oem_pretrain.py`: its last checkpoint
# (work dir work_dirs/<config name>/, iteration = that schedule's max_iters, 47000) is loaded here,
# every weight including the decode head (both runs predict vnseg's 5 classes). Then the study's
# schedule as from ImageNet. Another checkpoint: --cfg-options load_from=PATH.
_base_ = './segformer_b0_vn.py'
load_from = 'work_dirs/segformer_b0_oem_pretrain/iter_47000.pth'
model = dict(backbone=dict(init_cfg=None))  # load_from replaces it: skip the ImageNet download

# SegFormer-B0 distilled from the fine-tuned UperNet-ConvNeXt-T (study: 79.73 -> 79.38 mIoU).
# The student is configs/segformer_b0_vn.py unchanged (data, schedule, ImageNet MiT-B0); only the
# model type changes to DistillSegmentor, which adds the frozen teacher and the pixel-wise KD loss
# loss_kd = loss_weight * T^2 * KL(softmax(teacher / T) || softmax(student / T)) over non-ignored
# pixels (vnseg/models/losses/pixel_kd_loss.py). Both heads predict at 1/4 of the input.
#
# Teacher: train it first, `python tools/train.py configs/upernet_convnext_t_vn.py`. Its work dir
# (work_dirs/upernet_convnext_t_vn/, relative to where you run the tools) is given here: the
# best-mIoU checkpoint saved there (best_mIoU_iter_*.pth) is used, else the one `last_checkpoint`
# names. Another checkpoint: --cfg-options model.teacher_checkpoint=PATH.
# Checkpoints of this run hold the student's weights only: they load into configs/segformer_b0_vn.py
# (tools/test.py, MMSegInferencer) as they are.
_base_ = './segformer_b0_vn.py'
model = dict(
    type='DistillSegmentor',
    teacher_config='{{fileDirname}}/upernet_convnext_t_vn.py',
    teacher_checkpoint='work_dirs/upernet_convnext_t_vn',
    distill_loss=dict(type='PixelKDLoss', temperature=1.0, loss_weight=1.0, align='student'))

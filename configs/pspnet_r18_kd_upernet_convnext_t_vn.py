# PSPNet-R18 distilled from the fine-tuned UperNet-ConvNeXt-T (study: 77.98 -> 79.28 mIoU).
# The student is configs/pspnet_r18_vn.py unchanged; only the model type changes to
# DistillSegmentor, which adds the frozen teacher and the pixel-wise KD loss
# loss_kd = loss_weight * T^2 * KL(softmax(teacher / T) || softmax(student / T)) over non-ignored
# pixels (vnseg/models/losses/pixel_kd_loss.py).
# Sizes differ: PSPNet predicts at 1/8 of the input, UperNet at 1/4. align='student' resizes the
# teacher's logits bilinearly to the student's 1/8 grid (for this exact 2x ratio that is a 2x2
# average of the teacher's logits); align='label' would compare both at label resolution instead.
#
# Teacher: train it first, `python tools/train.py configs/upernet_convnext_t_vn.py`. Its work dir
# (work_dirs/upernet_convnext_t_vn/, relative to where you run the tools) is given here: the
# best-mIoU checkpoint saved there (best_mIoU_iter_*.pth) is used, else the one `last_checkpoint`
# names. Another checkpoint: --cfg-options model.teacher_checkpoint=PATH.
# Checkpoints of this run hold the student's weights only: they load into configs/pspnet_r18_vn.py.
_base_ = './pspnet_r18_vn.py'
model = dict(
    type='DistillSegmentor',
    teacher_config='{{fileDirname}}/upernet_convnext_t_vn.py',
    teacher_checkpoint='work_dirs/upernet_convnext_t_vn',
    distill_loss=dict(type='PixelKDLoss', temperature=1.0, loss_weight=1.0, align='student'))

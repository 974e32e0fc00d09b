# SegFormer-B0 pretrained on OpenEarthMap, then fine-tuned on vnseg with distillation from the
# fine-tuned UperNet-ConvNeXt-T (study: 80.94 mIoU).
# The student is configs/segformer_b0_oem_ft_vn.py unchanged: it starts from the OEM-pretrained
# checkpoint (load_from = work_dirs/segformer_b0_oem_pretrain/iter_47000.pth; run
# configs/segformer_b0_oem_pretrain.py first). DistillSegmentor's weights are the student's own
# keys, so load_from fills the student exactly as in the plain config and never touches the teacher.
# KD loss: loss_weight * T^2 * KL(softmax(teacher / T) || softmax(student / T)) over non-ignored
# pixels (vnseg/models/losses/pixel_kd_loss.py); both heads predict at 1/4 of the input.
#
# Teacher: the study's best model, UperNet-ConvNeXt-T pretrained on OEM and fine-tuned (82.49),
# trained by `python tools/train.py configs/upernet_convnext_t_oem_ft_vn.py` (after its OEM
# pretraining); its work dir is given here (the best-mIoU checkpoint there, else the one
# `last_checkpoint` names). To distil from the ImageNet-started teacher like the other KD configs:
#   --cfg-options model.teacher_config=configs/upernet_convnext_t_vn.py
#                 model.teacher_checkpoint=work_dirs/upernet_convnext_t_vn
# Checkpoints of this run hold the student's weights only: they load into
# configs/segformer_b0_vn.py / segformer_b0_oem_ft_vn.py as they are.
_base_ = './segformer_b0_oem_ft_vn.py'
model = dict(
    type='DistillSegmentor',
    teacher_config='{{fileDirname}}/upernet_convnext_t_oem_ft_vn.py',
    teacher_checkpoint='work_dirs/upernet_convnext_t_oem_ft_vn',
    distill_loss=dict(type='PixelKDLoss', temperature=1.0, loss_weight=1.0, align='student'))

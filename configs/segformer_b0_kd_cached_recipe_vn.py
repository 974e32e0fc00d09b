# SegFormer-B0 with vnseg's recipe, distilled from a teacher's cached soft labels (no teacher forward
# while training; configs/_base_/recipes/vnseg_kd_cached_recipe.py). Make the cache first, e.g.:
#   vnseg teacher-labels configs/upernet_convnext_t_recipe_vn.py work_dirs/upernet_convnext_t_recipe_vn/best.pth \
#       --data data/vn_drone --unlabelled flights/ --out-dir data/vn_drone/teacher_cache
# Checkpoints hold the student only: they load into configs/segformer_b0_recipe_vn.py as they are.
_base_ = ['./_base_/models/segformer_mit-b0.py', './_base_/recipes/vnseg_kd_cached_recipe.py']
model = dict(type='CachedDistillSegmentor', decode_head=dict(loss_decode={{_base_.decode_loss}}),
             distill_loss={{_base_.distill_loss}}, min_confidence={{_base_.min_confidence}})

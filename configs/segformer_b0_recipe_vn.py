# SegFormer-B0 trained with vnseg's recipe (configs/_base_/recipes/vnseg_recipe.py): the config
# for the best B0 from your own scenes. The study's B0 (study recipe) is configs/segformer_b0_vn.py.
_base_ = ['./_base_/models/segformer_mit-b0.py', './_base_/recipes/vnseg_recipe.py']
model = dict(decode_head=dict(loss_decode={{_base_.decode_loss}}))

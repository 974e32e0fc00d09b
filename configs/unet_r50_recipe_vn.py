# unet_r50 with vnseg's recipe (configs/_base_/recipes/vnseg_recipe.py); the study's recipe: configs/unet_r50_vn.py.
_base_ = ['./_base_/models/unet_r50.py', './_base_/recipes/vnseg_recipe.py']
model = dict(decode_head=dict(loss_decode={{_base_.decode_loss}}))

# pspnet_r18 with vnseg's recipe (configs/_base_/recipes/vnseg_recipe.py); the study's recipe: configs/pspnet_r18_vn.py.
_base_ = ['./_base_/models/pspnet_r18.py', './_base_/recipes/vnseg_recipe.py']
model = dict(decode_head=dict(loss_decode={{_base_.decode_loss}}))

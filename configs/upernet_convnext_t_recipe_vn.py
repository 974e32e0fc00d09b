# UperNet-ConvNeXt-T with vnseg's recipe (configs/_base_/recipes/vnseg_recipe.py);
# the study's recipe: configs/upernet_convnext_t_vn.py.
_base_ = ['./_base_/models/upernet_convnext_t.py', './_base_/recipes/vnseg_recipe.py']
model = dict(decode_head=dict(loss_decode={{_base_.decode_loss}}))

# A reference row of benchmarks/recipe_quality.py: the plain mmseg config at a higher learning rate.
_base_ = ['./segformer_b0_stock_plain.py']
optim_wrapper = dict(optimizer=dict(lr=1e-3))

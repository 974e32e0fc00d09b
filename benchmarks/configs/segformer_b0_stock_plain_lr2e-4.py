# A reference row of benchmarks/recipe_quality.py: the plain mmseg config at a lower learning rate.
_base_ = ['./segformer_b0_stock_plain.py']
optim_wrapper = dict(optimizer=dict(lr=2e-4))

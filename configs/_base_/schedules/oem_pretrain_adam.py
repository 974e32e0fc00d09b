# Pretraining on OpenEarthMap: the study's recipe (Adam, lr 1e-3, batch 16, 200 epochs, then lr x0.1)
# counted in OEM epochs. The study does not state its pretraining length; ours: OEM's train split
# lists 3000 tiles (1024x1024, one random 512 crop each per epoch) -> ceil(3000 / 16) = 188
# iterations per epoch; 200 epochs = 37,600 iterations at 1e-3, then 1e-4 up to 250 epochs (47,000).
# The fine-tuning configs (*_oem_ft_vn.py) load this run's last checkpoint, iter_47000.pth.
_base_ = './study_adam_200e.py'
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=47000, milestones=[37600], gamma=0.1)
]
train_cfg = dict(max_iters=47000, val_interval=1880)  # validate every 10 epochs
default_hooks = dict(checkpoint=dict(interval=1880))

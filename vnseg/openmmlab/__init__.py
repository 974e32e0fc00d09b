"""Layer 1: vnseg on the OpenMMLab stack as it is today (torch, mmengine, mmseg on use); imports only vnseg.core.

One job per module (import them directly; this package imports nothing):

* :mod:`~vnseg.openmmlab.compat`: the compatibility fixes for today's torch and numpy, one function each.
* :mod:`~vnseg.openmmlab.checkpoints`: what a checkpoint may hold, reading it, loading weights strictly.
* :mod:`~vnseg.openmmlab.dataset_meta`: a model's class names and palette from its config's dataset.
* :mod:`~vnseg.openmmlab.pretrained`: the switch that turns off pretrained-weight downloads in a config.

They are applied to mmseg by :mod:`vnseg.mmseg_ext` (layer 3), with vnseg's registrations.
"""

# vnseg runtime defaults: mmseg's runtime plus vnseg's fixes and registrations (vnseg.mmseg_ext).
_base_ = ['mmseg::_base_/default_runtime.py']

custom_imports = dict(imports=['vnseg.mmseg_ext'], allow_failed_imports=False)

# Iteration-based logging; checkpoints and validation cadence are set by the schedules.
log_processor = dict(by_epoch=False)

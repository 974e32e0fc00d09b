"""Reports and figures of trained runs: the library behind ``tools/analysis_tools`` and the demo.

Layer 5: imports only layers 0-4 (models through :mod:`vnseg.apis`; the layers: :mod:`vnseg`).

One job per module (import them directly; this package imports nothing, and only the modules that
need a model load torch/mmseg, on first use):

* :mod:`.metrics_file` -- read/write the metrics JSON of a run (``metrics_test.json``).
* :mod:`.confusion` -- confusion matrices: compute, normalise, IoU/Acc from them, CSV.
* :mod:`.logs` -- read ``scalars.json`` training/validation logs.
* :mod:`.comparison` -- the comparison table of runs (markdown / CSV).
* :mod:`.plots` -- render figures (confusion matrix, IoU bars, training curves, prediction grid).
* :mod:`.predictions` -- load a model from config (+ checkpoint), list test patches, predict.
* :mod:`.figures` -- figures that need a model / data first (confusion matrix, prediction grid).
"""

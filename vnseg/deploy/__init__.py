"""Deployment: ONNX export for ONNX Runtime and the QGIS Deepness plugin, and model cards.

Layer 4: imports only layers 0-3, not :mod:`vnseg.apis` beside it (the layers: :mod:`vnseg`).

* :mod:`vnseg.deploy.onnx_export` -- a segmentor's tile forward as an ONNX graph (normalisation
  inside, dynamic batch, softmax output), parity check against PyTorch, Deepness + vnseg metadata.
* :mod:`vnseg.deploy.model_card` -- what a model is (classes, data, resolution, config, iterations,
  metrics, parameters) as Markdown + JSON beside a checkpoint or an exported file.
* :mod:`vnseg.deploy.agreement` -- how many pixels two predictions give the same class (parity and
  int8 checks).

Running an exported model needs only :mod:`vnseg.inference.tile_models` (numpy + onnxruntime).
"""

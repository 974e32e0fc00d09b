"""Layer 3: the inference core that whole-scene mapping and deployment share (numpy; torch only for a PyTorch model).

* :mod:`~vnseg.inference.tile_models`: a model behind one small interface (PyTorch segmentor or ONNX file).
* :mod:`~vnseg.inference.sliding`: the sliding-window loop over a scene, window options, classes from scores.
* :mod:`~vnseg.inference.windows`: the window grid and the blending weights.

Whole scenes (files, resume, GIS outputs) are :mod:`vnseg.apis`; the export and its checks :mod:`vnseg.deploy`.
"""

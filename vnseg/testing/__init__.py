"""Generated data for the demo, the tests and the benchmarks; kept out of the wheel (``setup.py``).

Layer 7, outside the product (the layers: :mod:`vnseg`): imported by the tests, the demo and the benchmarks only.

* :mod:`~vnseg.testing.synthetic_scenes`: synthetic drone-like scenes (image + AnyLabeling JSON
  polygons that agree pixel for pixel), deterministic for a seed.

It is imported from a checkout (``make setup`` installs vnseg in editable mode), never by the rest of
vnseg.
"""

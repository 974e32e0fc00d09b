"""Layer 0: what every part of vnseg shares; it imports no other vnseg package (the layers: :mod:`vnseg`).

One job per module (import them directly; this package imports nothing):

* :mod:`~vnseg.core.errors`: the errors of a user's mistake (a subject and a problem).
* :mod:`~vnseg.core.atomic`: atomic file writes (standard library only).
* :mod:`~vnseg.core.classes`: the class scheme: names in both languages, palette, the ignore value.
* :mod:`~vnseg.core.config_tree`: the one walk over a nested config; where its train data lives.
* :mod:`~vnseg.core.geotiff`: tiled GeoTIFF files written block row by block row.
* :mod:`~vnseg.core.version`: vnseg's version.
"""

"""The vnseg class scheme: one place for names, indices, colours and the ignore value."""

#: Class names, index = class id in every mask vnseg reads or writes.
CLASSES = ('background', 'road', 'water', 'tree', 'building')

#: RGB colour per class, used for palette PNGs, previews and GeoTIFF colour tables.
PALETTE = [
    [0, 0, 0],        # background
    [255, 190, 0],    # road
    [0, 110, 255],    # water
    [30, 160, 50],    # tree
    [220, 40, 40],    # building
]

#: Mask value for pixels that are not labelled / must not count in losses or metrics.
IGNORE_INDEX = 255

#: RGB colour of ``IGNORE_INDEX`` pixels in palette masks, previews and figures.
IGNORE_COLOR = (255, 255, 255)

NUM_CLASSES = len(CLASSES)

#: Vietnamese class names, same order as :data:`CLASSES`.
CLASSES_VI = ('nền', 'đường', 'nước', 'cây xanh', 'công trình')

"""Data preparation: annotations to masks, patches, splits, augmentation, synthetic scenes."""

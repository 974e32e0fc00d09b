"""Pixel class agreement: how many pixels two predictions give the same class.

The one count behind ``vnseg export``'s parity check (PyTorch against ONNX Runtime,
:func:`vnseg.deploy.onnx_export.check_parity`), its int8 check (fp32 against int8,
:func:`vnseg.deploy.quantize.int8_agreement`) and the GPU machine check (CPU against CUDA,
``benchmarks/gpu_check.py``). :func:`agreeing_pixels` takes class maps as numpy arrays or torch
tensors and imports neither, so it also runs where only torch is installed.
"""
from __future__ import annotations

__all__ = ['agreeing_pixels', 'class_agreement']


def agreeing_pixels(classes_a, classes_b, mask=None) -> tuple:
    """``(agreeing, counted)`` pixel counts: pixels of ``mask`` whose class is the same in both maps.

    Args:
        classes_a: class map, any shape (numpy array or torch tensor, on the CPU).
        classes_b: class map of the same shape and kind.
        mask: bool map of the same shape, the pixels to count (valid, decided); None counts them all.
    """
    same = classes_a == classes_b
    if mask is not None:
        same = same[mask]
    return int(same.sum()), int(same.reshape(-1).shape[0])


def class_agreement(scores_a, scores_b, valid) -> tuple:
    """``(agreeing, counted)`` pixel counts: valid pixels whose class (argmax over C, first class on ties,
    :func:`vnseg.inference.sliding.classify`) is the same in both.

    Args:
        scores_a: float ``(n, C, H, W)`` numpy array (logits or log-probabilities).
        scores_b: the same shape.
        valid: bool ``(n, H, W)``: the pixels to count.
    """
    from vnseg.inference.sliding import classify
    if scores_a.shape != scores_b.shape or scores_a.shape[:1] + scores_a.shape[2:] != valid.shape:
        raise ValueError(f'shapes differ: {scores_a.shape}, {scores_b.shape}, valid {valid.shape}')
    agree = total = 0
    for a, b, v in zip(scores_a, scores_b, valid):
        n_agree, n_valid = agreeing_pixels(classify(a), classify(b), v)
        agree, total = agree + n_agree, total + n_valid
    return agree, total

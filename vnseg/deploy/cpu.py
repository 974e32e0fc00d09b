"""What this CPU offers ONNX Runtime's int8 kernels: its model and its 8-bit dot-product instruction sets."""
from __future__ import annotations

import platform
from pathlib import Path

__all__ = ['cpu_int8_features']


def cpu_int8_features() -> dict:
    """What decides ONNX Runtime's int8 kernels on this CPU: ``{'model', 'avx2', 'avx512_vnni', 'avx_vnni',
    'amx_int8', 'vnni', 'summary'}`` (flags from ``/proc/cpuinfo``; None where they cannot be read)."""
    flags, model = None, platform.processor() or platform.machine()
    try:
        text = Path('/proc/cpuinfo').read_text(errors='replace')
    except OSError:
        text = ''
    for line in text.splitlines():
        key, _, value = line.partition(':')
        if key.strip() == 'model name' and model in ('', platform.machine()):
            model = value.strip()
        if key.strip() == 'flags' and flags is None:
            flags = set(value.split())
    if flags is None:
        return dict(model=model, avx2=None, avx512_vnni=None, avx_vnni=None, amx_int8=None, vnni=None,
                    summary=f'{model}, instruction sets unknown')
    out = dict(model=model, avx2='avx2' in flags, avx512_vnni='avx512_vnni' in flags, avx_vnni='avx_vnni' in flags,
               amx_int8='amx_int8' in flags)
    out['vnni'] = out['avx512_vnni'] or out['avx_vnni']
    isa = [name for name, on in (('AVX2', out['avx2']), ('AVX-512', 'avx512f' in flags),
                                 ('AVX512-VNNI', out['avx512_vnni']), ('AVX-VNNI', out['avx_vnni']),
                                 ('AMX-INT8', out['amx_int8'])) if on]
    out['summary'] = f"{model}, {'/'.join(isa) or 'no AVX2'}{'' if out['vnni'] else ', no VNNI'}"
    return out

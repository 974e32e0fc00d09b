"""mmcv's CUDA build (the GPU switch of ``tools/setup_env.sh``), proven on a machine without a GPU.

Run by ``make test-cuda-build``, which first builds mmcv with CUDA ops into its own venv (``.venv-cuda``) and then
runs this file there with ``VNSEG_TEST_CUDA_BUILD=1``. Without that variable (the default ``make test``, a CPU-only
mmcv) the module is skipped; with it, every check must pass. ``TORCH_CUDA_ARCH_LIST`` names the architectures the
build was asked for (e.g. ``9.0``). The last test runs mmcv's kernels on a GPU and is skipped where none is visible.
"""
import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    os.environ.get('VNSEG_TEST_CUDA_BUILD') != '1',
    reason='CUDA build test: run `make test-cuda-build` (sets VNSEG_TEST_CUDA_BUILD=1)')

# A few kernels of mmcv 2.1.0's CUDA ops; each is a host function of mmcv/_ext that exists only when the ops
# were compiled with MMCV_WITH_CUDA.
KNOWN_CUDA_FUNCTIONS = {'nms_cuda', 'roi_align_forward_cuda', 'roi_align_backward_cuda',
                        'modulated_deformable_im2col_cuda', 'sigmoid_focal_loss_forward_cuda'}
FATBIN_MAGIC = 0xBA55ED50  # header of the device-code container nvcc links into .nv_fatbin
FATBIN_KIND_ELF = 2  # a compiled cubin for one SM architecture (1 = PTX)


def requested_archs():
    """SM numbers asked for in TORCH_CUDA_ARCH_LIST, e.g. ``'8.6;9.0+PTX'`` -> ``{86, 90}``."""
    text = os.environ.get('TORCH_CUDA_ARCH_LIST', '')
    archs = {int(major + minor) for major, minor in re.findall(r'(\d+)\.(\d+)', text)}
    if not archs:
        pytest.fail('TORCH_CUDA_ARCH_LIST is not set: it must name the architectures the build was asked for')
    return archs


@pytest.fixture(scope='module')
def ext_path():
    """Path of mmcv's compiled extension (``mmcv/_ext*.so``)."""
    import mmcv._ext

    return Path(mmcv._ext.__file__)


def tool(name):
    path = shutil.which(name)
    if path is None:
        pytest.fail(f'{name} (binutils) is needed to read the compiled extension')
    return path


def defined_cuda_functions(so_path):
    """Names ``*_cuda`` of the functions the shared object defines (demangled, without arguments)."""
    out = subprocess.run([tool('nm'), '-D', '--defined-only', '-C', str(so_path)],
                         check=True, capture_output=True, text=True).stdout
    names = set()
    for line in out.splitlines():
        match = re.match(r'[0-9a-f]+ [TtWw] (?:[\w:]+::)?(\w+_cuda)\(', line)
        if match:
            names.add(match[1])
    return names


def fatbin_cubin_archs(so_path):
    """SM numbers of the cubins in the ``.nv_fatbin`` section of an ELF shared object (e.g. ``{90}``).

    The section holds one or more fat binaries: a 16-byte header (magic 0xBA55ED50, version u16, header size u16,
    payload size u64), then entries whose header starts with kind u16, a u16, header size u32, payload size u64,
    and holds the SM number as u32 at byte 28.
    """
    data = so_path.read_bytes()
    # ELF64 section headers: e_shoff at 0x28, e_shentsize/e_shnum/e_shstrndx at 0x3A.
    shoff, = struct.unpack_from('<Q', data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from('<HHH', data, 0x3A)

    def section(index):
        name, _, _, _, offset, size = struct.unpack_from('<IIQQQQ', data, shoff + index * shentsize)
        return name, offset, size

    _, names_offset, _ = section(shstrndx)
    fatbin = None
    for index in range(shnum):
        name, offset, size = section(index)
        end = data.index(b'\0', names_offset + name)
        if data[names_offset + name:end] == b'.nv_fatbin':
            fatbin = data[offset:offset + size]
    if fatbin is None:
        return None
    archs, pos = set(), 0
    while pos + 16 <= len(fatbin):
        magic, _, header_size, payload_size = struct.unpack_from('<IHHQ', fatbin, pos)
        if magic != FATBIN_MAGIC:  # padding between fat binaries
            pos += 8
            continue
        entry, end = pos + header_size, pos + header_size + payload_size
        while entry < end:
            kind, _, entry_header, entry_size = struct.unpack_from('<HHIQ', fatbin, entry)
            arch, = struct.unpack_from('<I', fatbin, entry + 28)
            if kind == FATBIN_KIND_ELF:
                archs.add(arch)
            entry += entry_header + entry_size
        pos = end
    return archs


def test_extension_reports_torch_cuda_version():
    import torch
    from mmcv.ops import get_compiling_cuda_version

    assert torch.version.cuda is not None, 'the CUDA venv holds a CPU-only torch'
    assert get_compiling_cuda_version() == torch.version.cuda


def test_extension_defines_cuda_kernels(ext_path):
    names = defined_cuda_functions(ext_path)
    assert KNOWN_CUDA_FUNCTIONS <= names, f'missing: {sorted(KNOWN_CUDA_FUNCTIONS - names)}'
    # the CUDA build of mmcv 2.1.0 defines close to a hundred distinct `*_cuda` host functions; a CPU build none
    assert len(names) >= 80, sorted(names)


def test_extension_links_the_cuda_runtime(ext_path):
    import torch

    out = subprocess.run([tool('readelf'), '-d', str(ext_path)], check=True, capture_output=True, text=True).stdout
    needed = re.findall(r'\(NEEDED\)\s+Shared library: \[(.+?)\]', out)
    major = torch.version.cuda.split('.')[0]
    assert f'libcudart.so.{major}' in needed, needed


def test_device_code_for_the_requested_architectures(ext_path):
    archs = fatbin_cubin_archs(ext_path)
    assert archs is not None, f'{ext_path}: no .nv_fatbin section (no device code)'
    assert requested_archs() <= archs, f'cubins for SM {sorted(archs)}, asked for {sorted(requested_archs())}'


def test_ops_run_on_cpu_with_the_cuda_build():
    """The CUDA-built extension still loads and computes on a machine without a GPU."""
    import torch
    from mmcv.ops import nms

    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.], [20., 20., 30., 30.]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    # box 1 overlaps box 0 by 81 / 100 = 0.81 > 0.5 (mmcv's default offset 0: areas w*h): suppressed
    dets, keep = nms(boxes, scores, iou_threshold=0.5)
    assert keep.tolist() == [0, 2]
    assert dets[:, 4].tolist() == pytest.approx([0.9, 0.7])


def test_kernels_match_cpu_on_a_gpu():
    """On a GPU: mmcv's CUDA kernels give the CPU kernels' results (nms, roi_align, modulated deform conv)."""
    import torch
    from mmcv.ops import ModulatedDeformConv2dPack, nms, roi_align

    if not torch.cuda.is_available():
        pytest.skip('no GPU visible: CUDA kernels are not run')
    gen = torch.Generator().manual_seed(0)
    xy = torch.rand(200, 2, generator=gen) * 100
    boxes = torch.cat([xy, xy + 5 + torch.rand(200, 2, generator=gen) * 30], dim=1)
    scores = torch.rand(200, generator=gen)
    _, keep_cpu = nms(boxes, scores, 0.5)
    _, keep_gpu = nms(boxes.cuda(), scores.cuda(), 0.5)
    assert keep_gpu.cpu().tolist() == keep_cpu.tolist()

    feats = torch.rand(2, 8, 32, 32, generator=gen)
    rois = torch.tensor([[0, 1.5, 2.0, 20.0, 25.5], [1, 0.0, 0.0, 31.0, 31.0], [1, 10.2, 4.4, 12.9, 30.1]])
    cpu = roi_align(feats, rois, (7, 7), 1.0, 2, 'avg', True)
    gpu = roi_align(feats.cuda(), rois.cuda(), (7, 7), 1.0, 2, 'avg', True)
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-5, atol=1e-5)

    conv = ModulatedDeformConv2dPack(8, 4, 3, padding=1)
    with torch.no_grad():
        conv.conv_offset.weight.normal_(0, 0.1, generator=gen)  # non-zero offsets and masks
        cpu = conv(feats)
        gpu = conv.cuda()(feats.cuda())
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-4, atol=1e-4)

"""vnseg's packaging: a light core (whole-scene mapping with ONNX models) and the training stack as an extra.

    pip install .            vnseg map model.onnx mosaic.tif out/  (numpy, rasterio, onnxruntime...; no torch)
    pip install '.[openvino]'  + OpenVINO as a second runtime for ONNX models (vnseg map --backend openvino)
    pip install '.[train]'   + the OpenMMLab stack: prepare, train, test, export...  (make setup does this,
                              building mmcv 2.1.0 from source first: tools/setup_env.sh)
"""
from setuptools import find_packages, setup


def read_requirements(path):
    with open(path) as f:
        return [line.split('#')[0].strip() for line in f if line.split('#')[0].strip()]


setup(
    name='vnseg',
    version=open('vnseg/core/version.py').read().split("'")[1],
    description='Semantic segmentation of drone imagery of Vietnam on MMSegmentation',
    long_description=open('README.md').read(),
    long_description_content_type='text/markdown',
    # the product only: vnseg.testing (generated scenes for the demo, tests and benchmarks) stays in the checkout
    packages=find_packages(include=['vnseg', 'vnseg.*'], exclude=['vnseg.testing', 'vnseg.testing.*']),
    python_requires='>=3.9',
    install_requires=read_requirements('requirements/deploy.txt'),
    extras_require={
        'train': read_requirements('requirements/runtime.txt'),
        'tests': read_requirements('requirements/tests.txt'),
        'optional': read_requirements('requirements/optional.txt'),
        'openvino': read_requirements('requirements/openvino.txt'),
    },
    entry_points={'console_scripts': ['vnseg = vnseg.commands:main']},
)

# Copyright (c) mmbrain contributors. All rights reserved.
"""mmbrain: Brainformer (fMRI-guided vision pretraining) as an OpenMMLab plugin.

The mim extension copies ``configs/`` and ``tools/`` into ``mmbrain/.mim`` (as mmpretrain does; links them for an
editable install), so that ``mim train mmbrain ...`` and ``_base_ = 'mmbrain::pretrain/...'`` config references work
from an installed package. mmengine resolves ``mmbrain::`` once mmbrain's tools or
``mmbrain.utils.register_all_modules()`` have run (``register_config_package``: mmengine lists the packages it knows).
"""
import os
import os.path as osp
import shutil
import sys
import warnings

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def get_version() -> str:
    scope: dict = {}
    with open(osp.join(HERE, 'mmbrain', 'version.py')) as f:
        exec(compile(f.read(), 'mmbrain/version.py', 'exec'), scope)
    return scope['__version__']


def parse_requirements(fname: str) -> list:
    """Read a requirements file, skipping comments and blank lines."""
    reqs = []
    with open(osp.join(HERE, fname)) as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if line and not line.startswith('-'):
                reqs.append(line)
    return reqs


def add_mim_extension() -> None:
    """Copy (or, in develop mode, symlink) configs/ and tools/ into mmbrain/.mim."""
    if 'develop' in sys.argv or any(a.startswith('editable') for a in sys.argv):
        mode = 'symlink'
    elif 'sdist' in sys.argv or 'bdist_wheel' in sys.argv or 'install' in sys.argv:
        mode = 'copy'
    else:
        return
    mim_path = osp.join(HERE, 'mmbrain', '.mim')
    os.makedirs(mim_path, exist_ok=True)
    for name in ('configs', 'tools', 'model-index.yml'):
        src = osp.join(HERE, name)
        tar = osp.join(mim_path, name)
        if not osp.exists(src):
            continue
        if osp.isfile(tar) or osp.islink(tar):
            os.remove(tar)
        elif osp.isdir(tar):
            shutil.rmtree(tar)
        if mode == 'symlink':
            try:
                os.symlink(osp.relpath(src, mim_path), tar)
                continue
            except OSError:
                warnings.warn(f'Failed to symlink {src}; copying instead', stacklevel=2)
        if osp.isfile(src):
            shutil.copyfile(src, tar)
        else:
            shutil.copytree(src, tar)


if __name__ == '__main__':
    add_mim_extension()
    setup(
        name='mmbrain',
        version=get_version(),
        description='Brainformer: fMRI-guided vision pretraining as an OpenMMLab plugin',
        long_description=open(osp.join(HERE, 'README.md'), encoding='utf-8').read(),
        long_description_content_type='text/markdown',
        keywords='fMRI, NSD, self-supervised learning, OpenMMLab',
        packages=find_packages(exclude=('configs', 'tools', 'tests', 'benchmarks')),
        include_package_data=True,
        package_data={'mmbrain': ['.mim/**/*']},
        python_requires='>=3.9',
        license='Apache License 2.0',
        install_requires=parse_requirements('requirements/runtime.txt'),
        extras_require={
            'mim': parse_requirements('requirements/mminstall.txt'),
            'optional': parse_requirements('requirements/optional.txt'),
            'tests': parse_requirements('requirements/tests.txt'),
        },
        zip_safe=False)

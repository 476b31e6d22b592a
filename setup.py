"""Shim for tools that still call setup.py; the metadata is in pyproject.toml.

Builds write their scratch files (``build/``, ``*.egg-info``) to a temporary
directory, so that ``pip wheel .`` or ``pip install .`` leaves the source
tree as it was.
"""

import atexit
import shutil
import tempfile

from setuptools import setup

_scratch = tempfile.mkdtemp(prefix="sklearn-diffres-build-")
atexit.register(shutil.rmtree, _scratch, ignore_errors=True)

setup(options={"build": {"build_base": _scratch}, "egg_info": {"egg_base": _scratch}})

"""Only what pyproject.toml cannot say: the cffi extension (see build_ffi.py)."""

from setuptools import setup

setup(cffi_modules=["build_ffi.py:ffibuilder"])

from setuptools import setup

setup(cffi_modules=["memcg_emu/_build.py:ffibuilder"])

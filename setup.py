"""Build script: metadata lives in setup.cfg; this only adds the optional C helper."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        # optional=True: without a C compiler perfectws installs anyway and
        # falls back to its pure-Python masking (slower on large messages).
        Extension("perfectws._speedups", ["perfectws/_speedups.c"], optional=True)
    ]
)

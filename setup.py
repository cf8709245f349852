"""Builds panokit's optional C helpers; everything else lives in pyproject.toml.

The extension is optional: without a C compiler the install still succeeds and panokit
uses its pure-Python/Pillow/pyspng paths.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "panokit._speedups",
            sources=["src/panokit/_speedups.c"],
            extra_compile_args=["-O3"],
            optional=True,
        )
    ]
)

"""The ``panokit`` command line (see :mod:`panokit.cli.main`)."""

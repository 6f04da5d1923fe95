"""Helpers shared by the tests (not tests themselves): import them as ``helpers.<module>``.

``tests/`` is on ``sys.path`` through ``pythonpath = ["tests"]`` in pyproject.toml's
``[tool.pytest.ini_options]``; test files import only from this package, never from
one another or from a conftest.

* ``parity``: run the reference ``drizzle`` and tiledrizzle on the same calls, compare.
* ``mosaic_inputs``: synthetic exposures and output checks for the engine tests.
* ``wcs_data``: the real instrument WCS headers of the shared test data.
* ``reliability_job``: a mosaic job run as its own process (and a Dask worker preload).
"""

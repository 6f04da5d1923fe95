"""Fixtures of the command-line tests: two small FITS exposures and an output grid."""

import pytest
from helpers.fits_files import output_wcs, write_exposure

from tiledrizzle.inputs.output_wcs import wcs_to_header_string


@pytest.fixture
def files(tmp_path):
    """Two exposures with SCI, ERR and DQ (``helpers.fits_files.write_exposure``)."""
    return [str(write_exposure(tmp_path / f"e{k}.fits", k)) for k in range(2)]


@pytest.fixture
def header(tmp_path):
    """A header file of the output grid both exposures fall on."""
    hdr = tmp_path / "out.hdr"
    hdr.write_text(wcs_to_header_string(output_wcs()))
    return str(hdr)

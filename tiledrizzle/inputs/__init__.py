"""Inputs as users bring them: arrays, FITS files, pixmaps from WCS pairs, the output WCS."""

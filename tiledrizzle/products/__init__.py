"""What a mosaic store is made into: a FITS file, a PNG preview, blots onto input grids."""

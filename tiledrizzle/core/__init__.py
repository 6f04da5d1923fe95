"""What every stage shares: the tile grid, argument validation, the kernel input, errors."""

"""tiledrizzle: the drizzle algorithm, tiled and parallel, to the reference's numbers."""

__version__ = "0.1.0"

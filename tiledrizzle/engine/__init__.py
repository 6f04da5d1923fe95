"""The tiled engine: scan, plan, tasks, reducers, graphs, schedulers, execution."""

"""CLI commands, one module per group; imported lazily by panpin.cli."""

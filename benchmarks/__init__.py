"""torchmath's benchmark suite: ``python -m benchmarks`` (see ``--help``)."""

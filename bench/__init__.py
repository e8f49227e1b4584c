"""evalhub benchmarks: `python -m bench` (or `make bench`); see docs/benchmarks.md."""

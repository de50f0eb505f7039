"""adcli's benchmark suite: `python -m bench` (or `python bench/run.py`), `--quick` for a short run."""

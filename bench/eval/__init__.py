"""Evaluation of the shop bot: ``python -m bench.eval`` (see bench/eval/RESULTS.md)."""

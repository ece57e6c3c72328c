"""Benchmarks of gpt_lesson: ratios and qualities measured side by side in one run."""

"""Experiments whose results the book reads: each script regenerates its committed JSON."""

"""Proof under load, faults and bad input (``make chaos``) and the benchmark (``make bench``)."""

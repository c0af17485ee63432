"""Benchmarks (``booster bench``): they use every layer (codec, booster, feature store, downstream
models), so they sit above all of them, beside the command line; no layer imports them."""

"""The pair pipeline: data configs of weighted sources, per-step source draws, in-batch dedupe, exact resume and
per-process sharding (pipeline.py); texts to fixed-shape token arrays (tokenize.py)."""

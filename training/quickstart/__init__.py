"""`se1b quickstart` (run.py): build small datasets from raw files shipped in data/, train, evaluate, export and
card a model, offline."""

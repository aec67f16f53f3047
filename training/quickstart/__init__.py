"""`se1b quickstart` (run.py): mine (docstring, code) pairs from the local Python standard library
(stdlib_pairs.py), publish them as a Hub-format dataset, train, evaluate, export and card a model, offline."""

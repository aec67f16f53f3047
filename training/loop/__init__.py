"""The one training loop (train.py) and its parts: the config (config.py), set-up of mesh, model and optimizer
(setup.py), checkpoints (checkpoint.py), GradCache (gradcache.py), the export at the end of a run (export_run.py)
and `se1b distill`, a preset of the loop (distill.py)."""

"""The model: Flax NNX encoders for the BERT family and MPNet loaded from Hugging Face weights (encoders.py), the
pooled, normalised sentence model and its sentence-transformers folder (sentence_model.py), writing that folder
(export.py), and the `se1b convert` / `se1b encode` commands. Imports nothing else of `training`."""

"""Objectives: what one training step minimises, computed from the embeddings of the batch's text columns and any
other arrays the batch carries. Pure JAX functions; the loop (training/loop/train.py) runs every objective."""

"""Training: from pair datasets to a trained, exported sentence-transformers model.

    model/        Flax encoders (encoders.py), the sentence model (sentence_model.py), export/convert/encode
    data/         the pair pipeline: weighted source mixing, exact resume, tokenisation into static shapes
    objectives/   what a step minimises, from embeddings and batch columns (MNRL, distillation MSE, ...)
    loop/         the one training loop (train.py) and what it needs: config, set-up, checkpoints, GradCache, export
    evaluation/   STS, retrieval, translation and gender-bias evaluation (`se1b eval`)
    publish/      pushing dataset, model and Space folders to the Hub (`se1b push`)
    quickstart/   `se1b quickstart`: the whole pipeline on small data, offline

Lower parts never import higher ones: model <- data, objectives, evaluation <- loop <- publish, quickstart.
"""

"""Fraud model training: synthetic data, CSV loading, training, evaluation, ONNX export, model card."""

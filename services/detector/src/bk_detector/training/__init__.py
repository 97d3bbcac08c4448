"""Training, evaluation and export of the kitchen detector (synthetic data + case-manager exports)."""

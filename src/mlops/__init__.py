"""mlops: experiment tracking for machine-learning people."""

__version__ = "0.1.0"

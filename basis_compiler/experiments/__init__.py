"""Planted sparse vector recovery experiments: data generation and training."""

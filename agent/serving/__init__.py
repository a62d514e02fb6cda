"""Serving trained models: `torch_server` answers predictions over HTTP from a training checkpoint."""

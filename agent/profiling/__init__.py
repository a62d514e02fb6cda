"""The node's profiling sampler: frames of its CPU, RAM and GPUs while the controller asks for them."""

"""What the controller and the agents agree on about work, torch-free.

The training spec and its ranges, the script and command specs and their bounds, the name of the
checkpoint a training task leaves, and the dataset file formats. Both sides import
this package; neither imports the other, and nothing here loads torch.
"""

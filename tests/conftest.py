"""Test-session settings: one math thread per test process.

The suite runs with two xdist workers on two cores; more threads per worker oversubscribe
the cores and make small forward passes many times slower.
"""

import torch

torch.set_num_threads(1)

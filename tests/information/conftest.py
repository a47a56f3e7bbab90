"""Information-area tests run single-threaded.

Their tensors are small (gradchecks, tiny training loops), where two intra-op threads
gain nothing and, on a busy 2-core machine, contend badly: a 150-step InfoNCE loop took
8.3 s with two threads and 0.5 s with one.
"""

import pytest
import torch


@pytest.fixture(autouse=True)
def _single_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

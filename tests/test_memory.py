"""torchmath._memory: large fresh CPU buffers advised to transparent huge pages are ordinary
tensors, and the advice reaches the kernel on Linux."""

import sys

import pytest
import torch

from torchmath import _memory


def _vm_flags(address: int) -> list[str]:
    """The ``VmFlags`` of the mapping of this process that holds ``address``."""
    inside, flags = False, []
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split()[0]
            if "-" in head and not head.endswith(":"):
                lo, hi = (int(v, 16) for v in head.split("-"))
                inside = lo <= address < hi
            elif inside and head == "VmFlags:":
                flags = line.split()[1:]
    return flags


@pytest.mark.parametrize("shape", [(3, 4), (2**20 + 3, 5)])  # below and above 32 MiB
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_empty_large_is_an_ordinary_tensor(shape, dtype):
    like = torch.zeros(2, dtype=dtype)
    out = _memory.empty_large(like, *shape)
    assert out.shape == shape and out.dtype == dtype and out.device == like.device
    assert type(out) is torch.Tensor and out.is_contiguous() and not out.requires_grad
    out.fill_(2.5)
    assert out.sum().item() == pytest.approx(2.5 * out.numel(), rel=1e-6)


def test_empty_large_follows_other_devices_without_touching_memory():
    like = torch.zeros(2, dtype=torch.float64, device="meta")
    out = _memory.empty_large(like, 2**20, 64)  # 512 MiB on no memory at all
    assert out.device.type == "meta" and out.shape == (2**20, 64)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="madvise is Linux's")
def test_empty_large_advises_huge_pages_on_linux():
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            mode = f.read()
    except OSError:
        pytest.skip("this kernel has no transparent huge pages")
    if "[never]" in mode:
        pytest.skip("transparent huge pages are switched off")
    out = _memory.empty_large(torch.zeros(1, dtype=torch.float64), 2**22)  # 32 MiB
    aligned = -(-out.data_ptr() // (2 * 2**20)) * (2 * 2**20)
    assert "hg" in _vm_flags(aligned)  # VM_HUGEPAGE: the range was advised
    small = _memory.empty_large(torch.zeros(1, dtype=torch.float64), 2**10)
    assert small.numel() == 2**10

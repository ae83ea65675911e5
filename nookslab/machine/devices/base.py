"""What every device model shares: PCI identity, a register window, an interrupt line, DMA.

Devices read and write RAM by DMA directly (no MMU check: the paper's Nooks could not stop DMA
either, for want of an IOMMU, SOSP'03 section 4.2) and raise their interrupt line through the
machine. Timing is by events on the machine's clock.
"""
from __future__ import annotations


class PciDevice:
    """Base class: subclasses set ``vendor_id``, ``device_id``, ``irq_line``, ``mmio_size``."""

    vendor_id = 0
    device_id = 0
    irq_line = 0
    mmio_size = 0x100
    name = "device"

    def __init__(self):
        self.machine = None
        self.mmio_base = 0

    def attach(self, machine) -> None:
        self.machine = machine
        self.mmio_base = machine.allocate_mmio(self.mmio_size)
        machine.mmu.map_mmio(self.mmio_base, self.mmio_size, self)
        self.reset()

    def reset(self) -> None:
        """Power-on state of the registers."""

    # DMA: the device touches RAM directly.
    def dma_read(self, addr: int, n: int) -> bytes:
        data = self.machine.memory.data
        if addr <= 0 or addr + n > len(data):
            return bytes(n)                   # a master abort reads as zeros
        return bytes(data[addr:addr + n])

    def dma_write(self, addr: int, payload: bytes) -> bool:
        data = self.machine.memory.data
        if addr <= 0 or addr + len(payload) > len(data):
            return False
        data[addr:addr + len(payload)] = payload
        return True

    def raise_irq(self) -> None:
        self.machine.raise_irq(self.irq_line)

    def after(self, cycles: int, callback, label: str = "") -> None:
        self.machine.clock.schedule(cycles, callback, label=label or self.name)

    def mmio_read(self, offset: int, size: int) -> int:
        return 0

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        pass

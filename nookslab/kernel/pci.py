"""PCI: finding devices, mapping their registers, and coherent DMA memory.

``struct pci_dev`` objects live in kernel memory, one per device the machine has. A driver finds
its device, enables it, ``ioremap``s its registers and allocates DMA memory with
``pci_alloc_consistent`` (pages the device reads and writes behind the CPU's back).
"""
from __future__ import annotations

from ..machine.memory import PAGE_SHIFT, PAGE_SIZE, OutOfMemory
from . import errno
from .structs import Layout
from .symbols import Arg, export, obj, scalar

PCI_DEV = Layout("pci_dev", [("vendor", "u16"), ("device", "u16"), ("irq", "u32"),
                             ("resource_start", "u32"), ("resource_len", "u32"),
                             ("enabled", "u32"), ("master", "u32"), ("driver_data", "ptr")])


class PciSubsystem:
    def __init__(self, kernel):
        self.k = kernel
        self.pci_devs: dict[str, int] = {}                   # device name -> struct pci_dev
        self.dma: dict[int, tuple[int, str, int]] = {}       # addr -> (pages, owner, owner id)
        self.dma_owner_ids: dict[str, int] = {}
        # address -> its mappings, oldest first, as (size, owner). Linux gives each ioremap a
        # virtual mapping of its own; ours is the identity, so a reloaded driver maps its
        # registers at the same address while the failed instance's mapping is still there
        # (recovery unmaps it last): each iounmap undoes one mapping, the oldest.
        self.iomaps: dict[int, list[tuple[int, str]]] = {}

    def _scan(self) -> None:
        k = self.k
        for name, dev in k.machine.devices.items():
            if name in self.pci_devs or not hasattr(dev, "vendor_id"):
                continue
            p = k.heap.kmalloc(PCI_DEV.size, "kernel")
            m = k.mmu
            m.st16(p + PCI_DEV.vendor, dev.vendor_id)
            m.st16(p + PCI_DEV.device, dev.device_id)
            m.st32(p + PCI_DEV.irq, dev.irq_line)
            m.st32(p + PCI_DEV.resource_start, dev.mmio_base)
            m.st32(p + PCI_DEV.resource_len, dev.mmio_size)
            m.st32(p + PCI_DEV.enabled, 0)
            m.st32(p + PCI_DEV.driver_data, 0)
            self.pci_devs[name] = p

    @export(scalar("vendor"), scalar("device"), Arg("start", "object", "pci_dev", nullable=True),
            returns=Arg("pdev", "object", "pci_dev", nullable=True))
    def pci_find_device(self, vendor: int, device: int, start: int = 0) -> int:
        """The next ``pci_dev`` after ``start`` with these ids, or 0 (NULL)."""
        self._scan()
        found = start == 0
        for p in self.pci_devs.values():
            if found and self.k.mmu.ld16(p + PCI_DEV.vendor) == vendor \
                    and self.k.mmu.ld16(p + PCI_DEV.device) == device:
                return p
            if p == start:
                found = True
        return 0

    def device_of(self, pdev: int):
        for name, p in self.pci_devs.items():
            if p == pdev:
                return self.k.machine.devices[name]
        return None

    @export(obj("pdev", "pci_dev", "inout"), returns=scalar("ret"))
    def pci_enable_device(self, pdev: int) -> int:
        """Wake the device up; 0 or ``-ENODEV``."""
        if self.device_of(pdev) is None:
            return -errno.ENODEV
        self.k.mmu.st32(pdev + PCI_DEV.enabled, 1)
        return 0

    @export(obj("pdev", "pci_dev", "inout"))
    def pci_set_master(self, pdev: int) -> None:
        """Allow the device to master the bus (do DMA)."""
        self.k.mmu.st32(pdev + PCI_DEV.master, 1)

    @export(obj("pdev", "pci_dev", "inout"))
    def pci_disable_device(self, pdev: int) -> None:
        """Put the device to sleep."""
        self.k.mmu.st32(pdev + PCI_DEV.enabled, 0)

    @export(scalar("phys"), scalar("size"), returns=Arg("regs", "object", "iomem"), owned=True)
    def ioremap(self, phys: int, size: int, owner: str = "kernel") -> int:
        """Map device registers; the identity here (0 if nothing is there)."""
        if not self.k.mmu.kernel_pt.present(phys):
            return 0
        self.iomaps.setdefault(phys, []).append((size, owner))
        return phys

    @export(Arg("regs", "object", "iomem"), releases="regs")
    def iounmap(self, regs: int) -> None:
        """Undo ioremap (one mapping of ``regs``, the oldest)."""
        maps = self.iomaps.get(regs)
        if maps:
            maps.pop(0)
            if not maps:
                del self.iomaps[regs]

    @export(Arg("pdev", "object", "pci_dev", nullable=True), scalar("size"),
            returns=Arg("vaddr", "object", "dma"), creates="dma", owned=True)
    def pci_alloc_consistent(self, pdev: int, size: int, owner: str = "kernel") -> int:
        """Allocate ``size`` bytes of DMA-able memory (page-aligned, zeroed); 0 on failure."""
        if size <= 0 or size > 1 << 20:
            return 0
        pages = (size + PAGE_SIZE - 1) >> PAGE_SHIFT
        oid = self.dma_owner_ids.get(owner)
        if oid is None:
            oid = self.k.machine.pages.new_owner(f"dma {owner}")
            self.dma_owner_ids[owner] = oid
        try:
            addr = self.k.machine.pages.alloc(pages, oid)
        except OutOfMemory:
            return 0
        self.k.machine.memory.array[addr:addr + pages * PAGE_SIZE] = 0
        self.dma[addr] = (pages, owner, oid)
        if self.k.isolation is not None:                     # Nooks hook: domain may write it
            self.k.isolation.dma_allocated(owner, addr, pages * PAGE_SIZE)
        return addr

    @export(Arg("pdev", "object", "pci_dev", nullable=True), scalar("size"),
            Arg("vaddr", "object", "dma"), releases="vaddr")
    def pci_free_consistent(self, pdev: int, size: int, vaddr: int) -> None:
        """Free DMA memory from pci_alloc_consistent."""
        entry = self.dma.pop(vaddr, None)
        if entry is None:
            from .panic import KernelBug
            raise KernelBug(f"pci_free_consistent of bad address {vaddr:#010x}")
        pages, owner, _ = entry
        if self.k.isolation is not None:
            self.k.isolation.dma_freed(owner, vaddr, pages * PAGE_SIZE)
        self.k.machine.pages.free(vaddr, pages)

    @export(obj("pdev", "pci_dev", "inout"), scalar("data"))
    def pci_set_drvdata(self, pdev: int, data: int) -> None:
        """Remember the driver's private pointer in the pci_dev."""
        self.k.mmu.st32(pdev + PCI_DEV.driver_data, data)

    @export(obj("pdev", "pci_dev"), returns=scalar("data"))
    def pci_get_drvdata(self, pdev: int) -> int:
        """The driver's private pointer stored in the pci_dev."""
        return self.k.mmu.ld32(pdev + PCI_DEV.driver_data)

    def held_by(self, owner: str) -> list[str]:
        held = [f"dma {pages} pages at {a:#010x}" for a, (pages, o, _) in sorted(self.dma.items())
                if o == owner]
        held += [f"ioremap {a:#010x}" for a, maps in sorted(self.iomaps.items())
                 for _, o in maps if o == owner]
        return held

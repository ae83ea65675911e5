"""Kernel subsystems beyond the core, installed at boot in a fixed order.

Each entry adds its exported functions to the symbol table. Keep one line per subsystem.
"""
from __future__ import annotations


def install_all(kernel) -> None:
    from .chrdev import CharDevSubsystem
    from .pci import PciSubsystem
    kernel.add_subsystem("pci", PciSubsystem(kernel))
    kernel.add_subsystem("chrdev", CharDevSubsystem(kernel))
    from .net import install_net; install_net(kernel)  # noqa: E702 - networking (net/)
    from .sound import install as install_sound; install_sound(kernel)     # sound + ISA DMA
    from .block import BlockSubsystem; kernel.add_subsystem("block", BlockSubsystem(kernel))
    from .vfs import VfsSubsystem; kernel.add_subsystem("vfs", VfsSubsystem(kernel))
    from .net.ksocket import KernelSocketSubsystem; kernel.add_subsystem("ksocket", KernelSocketSubsystem(kernel))  # noqa: E501,E702 - kHTTPd

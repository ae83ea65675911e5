"""Kernel subsystems beyond the core, installed at boot in a fixed order.

Each entry adds its exported functions to the symbol table. Keep one line per subsystem.
"""
from __future__ import annotations


def install_all(kernel) -> None:
    from .chrdev import CharDevSubsystem
    from .pci import PciSubsystem
    kernel.add_subsystem("pci", PciSubsystem(kernel))
    kernel.add_subsystem("chrdev", CharDevSubsystem(kernel))

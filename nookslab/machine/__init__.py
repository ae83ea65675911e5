"""Simulated hardware: physical memory, MMU and page tables, CPU, clock, cost model, devices."""
from .clock import Clock, Timer
from .costs import CostModel
from .cpu import CPU, StackOverflow, Watchdog
from .machine import DEFAULT_MEMORY, Machine
from .memory import PAGE_SIZE, OutOfMemory, PageAllocator, PhysicalMemory
from .mmu import MMU, PRESENT, RW, WRITE, CpuFault, PageFault, PageTable

__all__ = ["CPU", "Clock", "CostModel", "CpuFault", "DEFAULT_MEMORY", "MMU", "Machine",
           "OutOfMemory", "PAGE_SIZE", "PRESENT", "PageAllocator", "PageFault", "PageTable",
           "PhysicalMemory", "RW", "StackOverflow", "Timer", "WRITE", "Watchdog"]

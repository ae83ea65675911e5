"""User processes, as far as the kernel sees them: a pid, a name, and a user-memory buffer.

Workloads run as processes. A process's buffer lives in user pages of simulated memory, so
``copy_from_user`` and ``copy_to_user`` move real bytes and check real ranges. A process ends in
``Kernel.exit_process`` (Linux's ``do_exit``): its pages go back to the allocator, its open files
are closed, and it leaves the kernel's process list.
"""
from __future__ import annotations

from dataclasses import dataclass, field

USER_PAGES = 64            # 256 KiB of user buffer per process


@dataclass
class Process:
    pid: int
    name: str
    ubuf: int                       # start of the user buffer
    usize: int
    killed: str | None = None       # the oops that killed it, if any
    files: dict = field(default_factory=dict)
    exited: bool = False            # do_exit ran: its pages and files are gone

    @property
    def alive(self) -> bool:
        return self.killed is None and not self.exited

"""User processes, as far as the kernel sees them: a pid, a name, and a user-memory buffer.

Workloads run as processes. A process's buffer lives in user pages of simulated memory, so
``copy_from_user`` and ``copy_to_user`` move real bytes and check real ranges.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .structs import Layout

USER_PAGES = 64            # 256 KiB of user buffer per process
MM_MAGIC = 0x6D6D5F73      # "mm_s"

#: The process's ``struct mm_struct`` (the fields we keep), on the kernel heap: fork allocates
#: it and ``do_exit`` frees it, so both walk the slab allocator (Linux 2.4's ``mm_cachep``).
MM_STRUCT = Layout("mm_struct", [("start_data", "ptr"), ("total_vm", "u32"),
                                 ("mm_users", "u32"), ("magic", "u32")])


@dataclass
class Process:
    pid: int
    name: str
    ubuf: int                       # start of the user buffer
    usize: int
    killed: str | None = None       # the oops that killed it, if any
    mm: int = 0                     # its mm_struct on the kernel heap (0 once freed)
    files: dict = field(default_factory=dict)

    @property
    def alive(self) -> bool:
        return self.killed is None

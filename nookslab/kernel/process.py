"""User processes, as far as the kernel sees them: a pid, a name, and a user-memory buffer.

Workloads run as processes. A process's buffer lives in user pages of simulated memory, so
``copy_from_user`` and ``copy_to_user`` move real bytes and check real ranges. A process ends in
``Kernel.exit_process`` (Linux's ``do_exit``): its pages go back to the allocator, its open files
are closed, and it leaves the kernel's process list.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..machine.memory import PAGE_SIZE
from .panic import KernelPanic, ProcessKilled
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
    exited: bool = False            # do_exit ran: its pages and files are gone

    @property
    def alive(self) -> bool:
        return self.killed is None and not self.exited


def do_exit(kernel, proc: Process) -> None:
    """End ``proc``: free its user pages, close its open files, drop it from the process list.

    Linux 2.4's order: the address space first (``__exit_mm``), then the files
    (``__exit_files``), each closed through the subsystem that opened it, as ``close`` would
    (the driver's ``release`` runs, in process context, with oops rules). An oops in a release
    kills the process again, and as in 2.4 (whose ``__exit_files`` detaches the file table
    before closing it) the files not yet closed are dropped unreleased; a panic or hang ends the
    system. Nothing is closed on a dead system. Never raises; a second call does nothing.
    """
    if proc not in kernel.processes:
        return
    if proc.usize:
        base, count = proc.ubuf, proc.usize // PAGE_SIZE
        proc.usize = 0                         # copy_to_user into it is refused from now on
        kernel.machine.pages.free(base, count)
        if kernel.isolation is not None:       # Nooks hook: domains may read the pages again
            kernel.isolation.user_pages_removed(base, count)
    if proc.files and kernel.verdict is None:
        try:
            for fd in sorted(proc.files):
                entry = proc.files.get(fd)
                close = kernel.file_closers.get(entry[0]) if entry is not None else None
                if close is None:              # nobody to release it: the entry goes
                    proc.files.pop(fd, None)
                    continue
                kernel._enter(proc, close, (fd,), 0)
        except ProcessKilled as exc:
            kernel.events.add("exit", "kernel", f"process {proc.name}: {exc.reason} while "
                                                f"closing its files; {len(proc.files)} left "
                                                f"unreleased")
        except KernelPanic:
            pass                               # the verdict says it all
    proc.files.clear()
    proc.exited = True
    kernel.processes.remove(proc)

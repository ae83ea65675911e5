"""What a driver imports: the names of exported kernel functions and CPU intrinsics.

A driver module says ``from nookslab.kernel.api import kmalloc, request_irq, ld32``, as a C driver
names kernel symbols it leaves undefined. The import gives only placeholders; the module loader
reads the import list from the driver's source and *links* each name to the running kernel's
function (native) or to a Nooks wrapper (nooks) when the driver is loaded.
"""
from __future__ import annotations

#: CPU "instructions" a driver uses on memory: loads, stores and bulk moves through the MMU, and
#: ``alloca(n)``: room for an n-byte local array in the current function's frame on the stack
#: (C's ``char buf[n]``, freed when the function returns; too big overflows the stack). Never
#: wrapped: they are not calls.
INTRINSICS = ("ld8", "ld16", "ld32", "st8", "st16", "st32", "ldbytes", "stbytes", "readl",
              "writel", "readw", "writew", "readb", "writeb", "alloca")


class Unlinked:
    """A placeholder for a kernel symbol outside a loaded module (calling it is an error)."""

    def __init__(self, name: str):
        self.name = name

    def __call__(self, *args, **kwargs):
        raise RuntimeError(f"{self.name} is a kernel symbol: it works only inside a driver "
                           "loaded with kernel.load(...)")

    def __repr__(self) -> str:
        return f"<unlinked kernel symbol {self.name}>"


def __getattr__(name: str):
    if name.startswith("__"):
        raise AttributeError(name)
    return Unlinked(name)

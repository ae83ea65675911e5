"""Typed structs laid out in simulated memory.

A :class:`Layout` is the analogue of a C struct declaration: named fields at fixed offsets. Code
uses the offsets for pointer arithmetic (``ld32(skb + SK_BUFF.len)``), exactly as compiled C does,
so a corrupted pointer or offset really reads or writes the wrong place. ``layout.view(mmu, addr)``
gives an attribute-style view whose reads and writes go through the MMU.
"""
from __future__ import annotations

_SIZES = {"u8": 1, "u16": 2, "u32": 4, "ptr": 4, "s32": 4}


class Layout:
    """A C struct: ``Layout("sk_buff", [("next", "ptr"), ("len", "u32"), ("cb", 48)])``.

    Field types are ``u8``, ``u16``, ``u32``, ``s32``, ``ptr`` (a 32-bit address) or an int (a byte
    array of that length). Each field name becomes an attribute holding its offset; ``size`` is
    the struct's size rounded up to 4 bytes.
    """

    def __init__(self, name: str, fields: list[tuple[str, object]]):
        self.name = name
        self.struct_name = name          # stays the C name even if a field is called "name"
        self.fields: dict[str, tuple[int, object]] = {}
        offset = 0
        for fname, ftype in fields:
            size = ftype if isinstance(ftype, int) else _SIZES[ftype]
            align = 1 if isinstance(ftype, int) else size
            offset = (offset + align - 1) // align * align
            self.fields[fname] = (offset, ftype)
            setattr(self, fname, offset)
            offset += size
        self.size = (offset + 3) // 4 * 4
        self._view = None

    def __repr__(self) -> str:
        return f"Layout(struct {self.name}, {self.size} bytes)"

    def type_of(self, field: str):
        return self.fields[field][1]

    def view(self, mmu, addr: int) -> "StructView":
        """An attribute view of the struct at ``addr``; every access goes through ``mmu``."""
        if self._view is None:
            self._view = _make_view(self)
        return self._view(mmu, addr)


class StructView:
    __slots__ = ("mmu", "addr")
    layout: Layout

    def __init__(self, mmu, addr: int):
        self.mmu = mmu
        self.addr = addr

    def __repr__(self) -> str:
        return f"<struct {self.layout.name} at {self.addr:#010x}>"

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.layout.fields}


def _make_view(layout: Layout) -> type:
    def accessor(off: int, ftype):
        if isinstance(ftype, int):
            def get(self):
                return self.mmu.read(self.addr + off, ftype)

            def put(self, value):
                self.mmu.write(self.addr + off, bytes(value)[:ftype].ljust(ftype, b"\0"))
        else:
            load = {"u8": "ld8", "u16": "ld16"}.get(ftype, "ld32")
            store = {"u8": "st8", "u16": "st16"}.get(ftype, "st32")
            signed = ftype == "s32"

            def get(self):
                value = getattr(self.mmu, load)(self.addr + off)
                return value - (1 << 32) if signed and value & 0x80000000 else value

            def put(self, value):
                getattr(self.mmu, store)(self.addr + off, value)
        return property(get, put)

    attrs = {"__slots__": (), "layout": layout,
             "__doc__": f"View of ``struct {layout.name}`` in simulated memory."}
    for name, (off, ftype) in layout.fields.items():
        attrs[name] = accessor(off, ftype)
    cls_name = "".join(part.capitalize() for part in layout.name.split("_")) + "View"
    return type(cls_name, (StructView,), attrs)


def signed32(value: int) -> int:
    """Interpret a 32-bit load as a signed C int (for ``-errno`` returns kept in memory)."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value

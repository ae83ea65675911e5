"""The dentry cache and the inode cache: Linux 2.4's ``fs/dcache.c`` and ``fs/inode.c`` hash
tables and lists, in simulated memory.

- ``dentry_hashtable``: one page of ``list_head`` buckets; a dentry is found by walking the ring of
  bucket ``d_hash(parent, hash)`` through ``d_hash`` and comparing ``d_name.hash``, ``d_parent``
  and the name (``d_lookup``). Each dentry is also linked through ``d_child`` into its parent's
  ``d_subdirs`` ring: the tree umount and ``rmdir`` walk.
- ``inode_hashtable``: the same for in-core inodes, by ``(i_sb, i_ino)`` through ``i_hash``
  (``find_inode``); every inode is on one ``i_list`` ring, ``inode_in_use`` or its super block's
  ``s_dirty`` once it is dirty (``__mark_inode_dirty``), oldest first, which ``sync`` walks.

Every walk goes through the MMU and counts a CPU step per member (see :mod:`.list`): a link a wild
store has bent is followed as Linux follows it. The name hash is a CRC-32 of the name (Linux uses
``full_name_hash``; any hash spreads the names, the kernel stores it in ``d_name.hash`` as Linux
does). Unlike Linux, unused dentries and inodes are never pruned: the caches grow until umount.
"""
from __future__ import annotations

import zlib

import numpy as np

from ..machine.memory import PAGE_SIZE
from .chrdev import INODE
from .list import (RING_MAX, INIT_LIST_HEAD, list_add, list_add_tail, list_del_init,
                   list_walk)
from .structs import Layout

NAME_MAX = 255
DENTRY = Layout("dentry", [
    ("d_count", "u32"), ("d_flags", "u32"), ("d_inode", "ptr"), ("d_parent", "ptr"),
    ("d_hash", "ptr"), ("d_hash_prev", "ptr"),          # struct list_head d_hash
    ("d_child", "ptr"), ("d_child_prev", "ptr"),        # struct list_head d_child
    ("d_subdirs", "ptr"), ("d_subdirs_prev", "ptr"),    # struct list_head d_subdirs
    ("d_name_hash", "u32"), ("d_name_len", "u32"),      # struct qstr d_name (hash, len)
    ("d_sb", "ptr"),
    ("d_name", NAME_MAX + 1),                           # d_iname: the name, kept inline
])
#: Fields only the kernel writes (never copied back from an isolated file system's copy).
DENTRY_KERNEL_FIELDS = ("d_count", "d_parent", "d_hash", "d_hash_prev", "d_child",
                        "d_child_prev", "d_subdirs", "d_subdirs_prev", "d_name_hash", "d_sb")
INODE_KERNEL_FIELDS = ("i_hash", "i_hash_prev", "i_list", "i_list_prev", "i_sb", "i_count",
                       "i_state")
I_DIRTY = 1

HASH_BITS = 9
HASH_SIZE = 1 << HASH_BITS           # list_head buckets: one page per table
L1_CACHE_BYTES = 32
_HASH_MASK = HASH_SIZE - 1
_D_HASH = DENTRY.d_hash
_D_CHILD = DENTRY.d_child
_D_SUBDIRS = DENTRY.d_subdirs
_D_PARENT = DENTRY.d_parent
_D_NAME_HASH = DENTRY.d_name_hash
_D_NAME_LEN = DENTRY.d_name_len
_D_NAME = DENTRY.d_name
_I_HASH = INODE.i_hash
_I_LIST = INODE.i_list
_I_SB = INODE.i_sb
_I_INO = INODE.i_ino


def name_hash(raw: bytes) -> int:
    """``d_name.hash`` of a name."""
    return zlib.crc32(raw)


def hash_table(kernel, owner_name: str) -> int:
    """A page of empty ``list_head`` buckets (allocated as ``__get_free_pages`` does at boot)."""
    pages = kernel.machine.pages
    table = pages.alloc(1, pages.new_owner(owner_name))
    words = [table + 8 * (i // 2) for i in range(2 * HASH_SIZE)]
    kernel.mmu.write(table, b"".join(w.to_bytes(4, "little") for w in words))
    return table


class Dcache:
    """The dentry hash table and tree of one kernel."""

    def __init__(self, kernel):
        self.k = kernel
        self.mmu = kernel.mmu
        self.table = hash_table(kernel, "dentry hash")

    def bucket(self, parent: int, h: int) -> int:
        """``d_hash(parent, hash)``: the bucket's ``list_head``."""
        h = (h + parent // L1_CACHE_BYTES) & 0xFFFFFFFF
        return self.table + 8 * ((h ^ (h >> HASH_BITS)) & _HASH_MASK)

    def d_lookup(self, parent: int, raw: bytes, h: int) -> int:
        """The hashed dentry named ``raw`` under ``parent``, or 0."""
        mmu = self.mmu
        ld32 = mmu.ld32
        n = len(raw)
        for link in list_walk(mmu, self.bucket(parent, h), self.k.cpu):
            d = link - _D_HASH
            if ld32(d + _D_NAME_HASH) == h and ld32(d + _D_PARENT) == parent \
                    and ld32(d + _D_NAME_LEN) == n and mmu.read(d + _D_NAME, n) == raw:
                return d
        return 0

    def d_alloc(self, parent: int, raw: bytes, h: int, sb: int) -> int:
        """A new negative dentry (``d_alloc``): in ``parent``'s ``d_subdirs`` and hashed; a root
        (``parent`` 0) is its own parent and is neither. 0 if there is no memory."""
        k = self.k
        mmu = self.mmu
        d = k.heap.kmalloc(DENTRY.size, "kernel")
        if not d:
            return 0
        mmu.fill(d, 0, DENTRY.size)
        INIT_LIST_HEAD(mmu, d + _D_HASH)
        INIT_LIST_HEAD(mmu, d + _D_CHILD)
        INIT_LIST_HEAD(mmu, d + _D_SUBDIRS)
        mmu.st32(d + DENTRY.d_sb, sb)
        mmu.st32(d + _D_NAME_HASH, h)
        mmu.st32(d + _D_NAME_LEN, len(raw))
        mmu.write(d + _D_NAME, raw)
        if parent:
            mmu.st32(d + _D_PARENT, parent)
            list_add_tail(mmu, d + _D_CHILD, parent + _D_SUBDIRS)
            list_add(mmu, d + _D_HASH, self.bucket(parent, h))
        else:
            mmu.st32(d + _D_PARENT, d)
        return d

    def d_unlink(self, d: int) -> None:
        """Take ``d`` out of the hash and its parent's ``d_subdirs`` (before it is freed)."""
        list_del_init(self.mmu, d + _D_HASH)
        list_del_init(self.mmu, d + _D_CHILD)

    def children(self, d: int) -> list[int]:
        """``d``'s children, oldest first (a walk of its ``d_subdirs``)."""
        return [link - _D_CHILD for link in list_walk(self.mmu, d + _D_SUBDIRS,
                                                      self.k.cpu)]

    def tree(self, root: int) -> list[int]:
        """Every dentry under ``root`` and ``root`` itself, children before their parent (the
        order umount's ``shrink_dcache`` lets them go)."""
        out: list[int] = []
        stack = [(root, False)]
        while stack:
            d, expanded = stack.pop()
            if expanded:
                out.append(d)
                if len(out) > RING_MAX:         # links bent into a loop: a hang
                    self.k.cpu.spin("a dentry tree walk that never ends")
                continue
            stack.append((d, True))
            stack.extend((c, False) for c in reversed(self.children(d)))
        return out

    def name(self, d: int) -> bytes:
        return self.mmu.read(d + _D_NAME, min(self.mmu.ld32(d + _D_NAME_LEN), NAME_MAX))


class InodeCache:
    """The inode hash table and the in-use ring of one kernel (``inode_in_use``, a
    ``list_head`` at ``in_use``); dirty inodes are on their super block's ``s_dirty`` ring."""

    def __init__(self, kernel, in_use: int, s_dirty_offset: int):
        self.k = kernel
        self.mmu = kernel.mmu
        self.in_use = in_use
        self.s_dirty = s_dirty_offset
        INIT_LIST_HEAD(self.mmu, in_use)
        self.table = hash_table(kernel, "inode hash")

    def bucket(self, sb: int, ino: int) -> int:
        """``hash(sb, i_ino)``: the bucket's ``list_head``."""
        h = (ino + sb // L1_CACHE_BYTES) & 0xFFFFFFFF
        return self.table + 8 * ((h + (h >> HASH_BITS)) & _HASH_MASK)

    def find(self, sb: int, ino: int) -> int:
        """``find_inode``: the hashed inode ``ino`` of ``sb``, or 0."""
        ld32 = self.mmu.ld32
        for link in list_walk(self.mmu, self.bucket(sb, ino), self.k.cpu):
            inode = link - _I_HASH
            if ld32(inode + _I_INO) == ino and ld32(inode + _I_SB) == sb:
                return inode
        return 0

    def new(self, sb: int) -> int:
        """``new_inode``: zeroed, one reference, on ``inode_in_use``, not hashed; 0 on ENOMEM."""
        mmu = self.mmu
        inode = self.k.heap.kmalloc(INODE.size, "kernel")
        if not inode:
            return 0
        mmu.fill(inode, 0, INODE.size)
        INIT_LIST_HEAD(mmu, inode + _I_HASH)
        list_add(mmu, inode + _I_LIST, self.in_use)
        mmu.st32(inode + _I_SB, sb)
        mmu.st32(inode + INODE.i_count, 1)
        mmu.st32(inode + INODE.i_nlink, 1)
        return inode

    def insert_hash(self, inode: int) -> None:
        """``insert_inode_hash``: under its ``(i_sb, i_ino)`` bucket."""
        ld32 = self.mmu.ld32
        list_add(self.mmu, inode + _I_HASH,
                 self.bucket(ld32(inode + _I_SB), ld32(inode + _I_INO)))

    def unlink(self, inode: int) -> None:
        """Off the hash and off its ``i_list`` ring (before it is freed)."""
        list_del_init(self.mmu, inode + _I_HASH)
        list_del_init(self.mmu, inode + _I_LIST)

    def mark_dirty(self, inode: int) -> None:
        """``__mark_inode_dirty``: the first time, move it to the end of ``sb->s_dirty``."""
        mmu = self.mmu
        state = mmu.ld32(inode + INODE.i_state)
        if state & I_DIRTY:
            return
        mmu.st32(inode + INODE.i_state, state | I_DIRTY)
        list_del_init(mmu, inode + _I_LIST)
        list_add_tail(mmu, inode + _I_LIST, mmu.ld32(inode + _I_SB) + self.s_dirty)

    def mark_clean(self, inode: int) -> None:
        """What ``__sync_one`` does before ``write_inode``: back to ``inode_in_use``, clean."""
        mmu = self.mmu
        mmu.st32(inode + INODE.i_state, mmu.ld32(inode + INODE.i_state) & ~I_DIRTY)
        list_del_init(mmu, inode + _I_LIST)
        list_add(mmu, inode + _I_LIST, self.in_use)

    def dirty_of(self, sb: int) -> list[int]:
        """The dirty inodes of ``sb``, oldest first (a walk of ``s_dirty``)."""
        return [link - _I_LIST for link in list_walk(self.mmu, sb + self.s_dirty,
                                                     self.k.cpu)]

    def of_sb(self, sb: int) -> list[int]:
        """Every in-core inode of ``sb`` (``invalidate_inodes``: the in-use and dirty rings)."""
        ld32 = self.mmu.ld32
        found = [link - _I_LIST for link in list_walk(self.mmu, self.in_use, self.k.cpu)
                 if ld32(link - _I_LIST + _I_SB) == sb]
        return found + self.dirty_of(sb)


def buckets_of(mmu, table: int) -> list[int]:
    """The ``list_head`` addresses of a hash table's buckets that are not empty (one bulk read
    of the table: a bucket is empty when its ``next`` points at itself)."""
    words = np.frombuffer(mmu.read(table, PAGE_SIZE), dtype="<u4")
    heads = table + 8 * np.arange(HASH_SIZE, dtype=np.int64)
    busy = (words[0::2] != heads) | (words[1::2] != heads)
    return (heads[busy]).tolist()

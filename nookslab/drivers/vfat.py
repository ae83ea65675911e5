"""VFAT: the FAT16 file system with long names, as a loadable extension (SOSP'03 Table 3).

Shaped like Linux 2.4's ``fs/fat`` + ``fs/vfat``: ``read_super`` reads the boot sector and keeps
the geometry in a private ``msdos_sb_info`` (kmalloc'd); every FAT entry, directory entry and
file block is reached through the buffer cache (``bread``/``getblk``, ``mark_buffer_dirty``,
``brelse``), so the FAT itself stays cached there; per-inode state (first cluster, where the
directory entry is, a one-entry cluster cache like ``fat_cache``) sits in the inode's ``u`` union.
Long names take LFN slots (13 UCS-2 characters each, with the checksum of the 8.3 alias) before
the short entry. The extension is process-oriented (SOSP'03 section 5.2): it runs in the context
of the process that made the system call.

It reaches the kernel only through the names imported below and the four ops tables it hands to
``register_filesystem``.
"""
import struct

from nookslab.drivers.fat_layout import (ATTR_ARCH, ATTR_DIR, ATTR_LFN, ATTR_VOLUME,
                                         BPB_BYTES_PER_SEC, BPB_FAT_SZ16, BPB_NUM_FATS,
                                         BPB_ROOT_ENTS, BPB_RSVD_SEC, BPB_SEC_PER_CLUS,
                                         BPB_TOT_SEC16, BPB_TOT_SEC32, BS_SIGNATURE, DELETED,
                                         DIR_CLUS_LO, DIR_ENTRY, DIR_SIZE, DIR_WRT_DATE,
                                         DIR_WRT_TIME, DOT, DOTDOT, ENTRIES_PER_SECTOR,
                                         FAT_DATE_2003, FAT_EOC, FAT_FREE, FIRST_CLUSTER,
                                         LFN_ATTR, LFN_CHARS, LFN_CHKSUM, LFN_CLUS, LFN_LAST,
                                         LFN_MAX_SLOTS, LFN_NAME1, LFN_NAME2, LFN_NAME3,
                                         LFN_TYPE, MIN_FAT16_CLUSTERS, SIGNATURE)
from nookslab.kernel.api import (alloca, bread, brelse, copy_from_user, copy_to_user, d_add,
                                 d_alloc_root, d_instantiate, fsync_dev, getblk, iget,
                                 insert_inode_hash, iput, jiffies, kfree, kmalloc, ld8, ld16,
                                 ld32, ldbytes, mark_buffer_dirty, mark_buffer_uptodate,
                                 mark_inode_dirty, memcpy, memset, new_inode,
                                 register_filesystem, set_blocksize, st8, st16, st32, stbytes,
                                 unregister_filesystem, vfs_filldir)
from nookslab.kernel.block import BUFFER_HEAD
from nookslab.kernel.chrdev import FILE, INODE, FileOperations
from nookslab.kernel.errno import (EEXIST, EFAULT, EINVAL, EIO, ENAMETOOLONG, ENOMEM, ENOSPC,
                                   ENOTEMPTY)
from nookslab.kernel.structs import Layout
from nookslab.kernel.vfs import (DENTRY, DT_DIR, DT_REG, S_IFDIR, S_IFREG, STATFS, SUPER_BLOCK,
                                 FileSystemType, InodeOperations, SuperOperations)

BLOCK = 512
MSDOS_SUPER_MAGIC = 0x4D44
MSDOS_ROOT_INO = 1
SBI_MAGIC = 0x56464154                      # "VFAT": sanity mark on the private super block
NAME_BUF = 256
BAD_CHARS = '"*/:<>?\\|'
BLANK_NAME = b"           "                # an 8.3 name of spaces (a new entry's placeholder)
LFN_PIECE = LFN_CHARS * 2                   # bytes of name in one long-name slot (UCS-2)
#: where the 13 characters of a long-name slot sit in its 32 bytes (name1, name2, name3)
LFN_OFFSETS = (LFN_NAME1, LFN_NAME1 + 2, LFN_NAME1 + 4, LFN_NAME1 + 6, LFN_NAME1 + 8,
               LFN_NAME2, LFN_NAME2 + 2, LFN_NAME2 + 4, LFN_NAME2 + 6, LFN_NAME2 + 8,
               LFN_NAME2 + 10, LFN_NAME3, LFN_NAME3 + 2)

MSDOS_SB = Layout("msdos_sb_info", [
    ("magic", "u32"), ("dev", "u32"), ("sec_per_clus", "u32"), ("cluster_size", "u32"),
    ("fats", "u32"), ("fat_start", "u32"), ("fat_length", "u32"), ("dir_start", "u32"),
    ("dir_entries", "u32"), ("data_start", "u32"), ("clusters", "u32"),
    ("free_clusters", "u32"), ("prev_free", "u32"), ("name_buf", "ptr"),
])
MSDOS_I = Layout("msdos_inode_info", [          # lives in inode->u (32 bytes)
    ("i_start", "u32"), ("i_attrs", "u32"), ("i_pos", "u32"), ("i_dirpos", "u32"),
    ("i_nslots", "u32"), ("i_cache_idx", "u32"), ("i_cache_clu", "u32"), ("i_parent", "u32"),
])
FREE_UNKNOWN = 0xFFFFFFFF
U = INODE.u
SHORT = struct.Struct("<11sBBBHHHHHHHI")


# -- helpers ---------------------------------------------------------------------------------
def sbi_of(inode):
    return ld32(ld32(inode + INODE.i_sb) + SUPER_BLOCK.s_fs_info)


def fat_time():
    secs = jiffies() // 100
    return ((secs // 3600 % 24) << 11) | ((secs // 60 % 60) << 5) | (secs % 60 // 2)


def cluster_ok(sbi, c):
    return FIRST_CLUSTER <= c < ld32(sbi + MSDOS_SB.clusters) + FIRST_CLUSTER


def cluster_block(sbi, c):
    return ld32(sbi + MSDOS_SB.data_start) + (c - FIRST_CLUSTER) * ld32(sbi + MSDOS_SB.sec_per_clus)


def fat_get(sbi, c):
    """The FAT entry of cluster ``c`` (from the first FAT), or -EIO."""
    off = c * 2
    bh = bread(ld32(sbi + MSDOS_SB.dev), ld32(sbi + MSDOS_SB.fat_start) + off // BLOCK, BLOCK)
    if not bh:
        return -EIO
    value = ld16(ld32(bh + BUFFER_HEAD.b_data) + off % BLOCK)
    brelse(bh)
    return value


def fat_set(sbi, c, value):
    """Set cluster ``c``'s entry in every copy of the FAT."""
    off = c * 2
    dev = ld32(sbi + MSDOS_SB.dev)
    block = ld32(sbi + MSDOS_SB.fat_start) + off // BLOCK
    i = 0
    while i < ld32(sbi + MSDOS_SB.fats):
        bh = bread(dev, block + i * ld32(sbi + MSDOS_SB.fat_length), BLOCK)
        if not bh:
            return -EIO
        st16(ld32(bh + BUFFER_HEAD.b_data) + off % BLOCK, value)
        mark_buffer_dirty(bh)
        brelse(bh)
        i += 1
    return 0


def alloc_cluster(sbi):
    """Take a free cluster (searching on from the last one taken), mark it end-of-chain."""
    clusters = ld32(sbi + MSDOS_SB.clusters)
    limit = clusters + FIRST_CLUSTER
    c = ld32(sbi + MSDOS_SB.prev_free) + 1
    if c < FIRST_CLUSTER or c >= limit:
        c = FIRST_CLUSTER
    dev = ld32(sbi + MSDOS_SB.dev)
    fat_start = ld32(sbi + MSDOS_SB.fat_start)
    scanned = 0
    while scanned < clusters:
        bh = bread(dev, fat_start + c * 2 // BLOCK, BLOCK)
        if not bh:
            return -EIO
        entries = struct.unpack("<256H", ldbytes(ld32(bh + BUFFER_HEAD.b_data), BLOCK))
        brelse(bh)
        first = c % 256
        base = c - first
        try:
            j = entries.index(FAT_FREE, first)
        except ValueError:
            j = 256
        if j < 256 and base + j < limit:
            found = base + j
            err = fat_set(sbi, found, FAT_EOC)
            if err:
                return err
            st32(sbi + MSDOS_SB.prev_free, found)
            free = ld32(sbi + MSDOS_SB.free_clusters)
            if free != FREE_UNKNOWN and free:
                st32(sbi + MSDOS_SB.free_clusters, free - 1)
            return found
        scanned += 256 - first
        c = base + 256
        if c >= limit:
            c = FIRST_CLUSTER
    return -ENOSPC


def free_chain(sbi, c):
    """Give back every cluster of the chain starting at ``c``."""
    count = 0
    while cluster_ok(sbi, c) and count <= ld32(sbi + MSDOS_SB.clusters):
        nxt = fat_get(sbi, c)
        if nxt < 0:
            return nxt
        fat_set(sbi, c, FAT_FREE)
        free = ld32(sbi + MSDOS_SB.free_clusters)
        if free != FREE_UNKNOWN:
            st32(sbi + MSDOS_SB.free_clusters, free + 1)
        c = nxt
        count += 1
    return 0


def bmap(inode, idx):
    """The ``idx``-th cluster of the file, or 0 past its end. Leaves the last cluster reached
    in the inode's cluster cache (so appending knows where the chain ends)."""
    u = inode + U
    sbi = sbi_of(inode)
    c = ld32(u + MSDOS_I.i_start)
    i = 0
    cached = ld32(u + MSDOS_I.i_cache_clu)
    if cached and ld32(u + MSDOS_I.i_cache_idx) <= idx:
        c = cached
        i = ld32(u + MSDOS_I.i_cache_idx)
    if not cluster_ok(sbi, c):
        return 0
    while i < idx:
        nxt = fat_get(sbi, c)
        if not cluster_ok(sbi, nxt):
            break
        c = nxt
        i += 1
    st32(u + MSDOS_I.i_cache_idx, i)
    st32(u + MSDOS_I.i_cache_clu, c)
    if i == idx:
        return c
    return 0


def get_cluster(inode, idx):
    """Like bmap, but extends the chain (allocating clusters) until it has an ``idx``-th."""
    u = inode + U
    sbi = sbi_of(inode)
    c = bmap(inode, idx)
    while not c:
        new = alloc_cluster(sbi)
        if new < 0:
            return new
        if not cluster_ok(sbi, ld32(u + MSDOS_I.i_start)):
            st32(u + MSDOS_I.i_start, new)
            st32(u + MSDOS_I.i_cache_idx, 0)
        else:
            err = fat_set(sbi, ld32(u + MSDOS_I.i_cache_clu), new)
            if err:
                return err
            st32(u + MSDOS_I.i_cache_idx, ld32(u + MSDOS_I.i_cache_idx) + 1)
        st32(u + MSDOS_I.i_cache_clu, new)
        c = bmap(inode, idx)
    return c


def zero_cluster(sbi, c):
    dev = ld32(sbi + MSDOS_SB.dev)
    block = cluster_block(sbi, c)
    i = 0
    while i < ld32(sbi + MSDOS_SB.sec_per_clus):
        bh = getblk(dev, block + i, BLOCK)
        if not bh:
            return -EIO
        memset(ld32(bh + BUFFER_HEAD.b_data), 0, BLOCK)
        mark_buffer_uptodate(bh)
        mark_buffer_dirty(bh)
        brelse(bh)
        i += 1
    return 0


def dir_block(inode, bi):
    """Absolute block of the directory's ``bi``-th block, or 0 past its end."""
    sbi = sbi_of(inode)
    if ld32(inode + INODE.i_ino) == MSDOS_ROOT_INO:
        if bi < ld32(sbi + MSDOS_SB.dir_entries) // ENTRIES_PER_SECTOR:
            return ld32(sbi + MSDOS_SB.dir_start) + bi
        return 0
    spc = ld32(sbi + MSDOS_SB.sec_per_clus)
    c = bmap(inode, bi // spc)
    if not c:
        return 0
    return cluster_block(sbi, c) + bi % spc


def lfn_checksum(short):
    s = 0
    for ch in short[:11]:
        s = (((s & 1) << 7) + (s >> 1) + ch) & 0xFF
    return s


def short_text(short):
    base = short[:8].rstrip(b" ").decode("latin-1").lower()
    ext = short[8:11].rstrip(b" ").decode("latin-1").lower()
    if ext:
        return base + "." + ext
    return base


def scan_dir(inode, pos, visit, want_free):
    """Walk the directory's entries from byte offset ``pos``. ``visit(first, off, block, slot,
    name, entry)`` is called for each visible entry (name: its long name if the long-name slots
    are sound, else the 8.3 name) and, with ``want_free``, for each free slot (name None).
    Returns the first non-zero value ``visit`` returns, 0 at the end, or -EIO.

    A long name is gathered, as Linux's ``fat_parse_long`` does, in a name buffer on the stack:
    each slot's 13 characters go to the place its ordinal says (slot n at (n - 1) * 13)."""
    dev = ld32(sbi_of(inode) + MSDOS_SB.dev)
    uni = alloca(LFN_MAX_SLOTS * LFN_PIECE)
    bi = pos // BLOCK
    k = pos % BLOCK // DIR_ENTRY
    nslots = 0
    lfn_first = -1
    lfn_sum = -1
    expect = 0
    ended = False
    while True:
        block = dir_block(inode, bi)
        if not block:
            return 0
        bh = bread(dev, block, BLOCK)
        if not bh:
            return -EIO
        data = ldbytes(ld32(bh + BUFFER_HEAD.b_data), BLOCK)
        brelse(bh)
        while k < ENTRIES_PER_SECTOR:
            off = bi * BLOCK + k * DIR_ENTRY
            e = data[k * DIR_ENTRY:(k + 1) * DIR_ENTRY]
            first = e[0]
            if first == 0:
                ended = True
            if ended or first == DELETED:
                nslots, expect = 0, 0
                if want_free:
                    ret = visit(off, off, block, k, None, e)
                    if ret:
                        return ret
                elif ended:
                    return 0
            elif e[11] & 0x3F == ATTR_LFN:
                ordinal = first & 0x1F
                if first & LFN_LAST:
                    nslots, expect, lfn_first, lfn_sum = ordinal, ordinal, off, e[13]
                if ordinal == expect and ordinal and e[13] == lfn_sum:
                    stbytes(uni + (ordinal - 1) * LFN_PIECE, e[1:11] + e[14:26] + e[28:32])
                    expect -= 1
                else:
                    nslots, expect = 0, 0
            elif not e[11] & ATTR_VOLUME:
                short = e[0:11]
                text = ""
                if nslots and expect == 0 and lfn_checksum(short) == lfn_sum:
                    text = ldbytes(uni, nslots * LFN_PIECE).decode("utf-16-le", "replace") \
                        .split("\x00")[0]
                if text:
                    ret = visit(lfn_first, off, block, k, text, e)
                else:
                    ret = visit(off, off, block, k, short_text(short), e)
                if ret:
                    return ret
                nslots, expect = 0, 0
            else:
                nslots, expect = 0, 0
            k += 1
        k = 0
        bi += 1


def dentry_name(dentry):
    n = ld32(dentry + DENTRY.d_name_len)
    if n == 0 or n > 255:
        return None
    return ldbytes(dentry + DENTRY.d_name, NAME_BUF)[:n].decode("latin-1")


def fill_inode(inode, e, pos, first_off, nslots, parent_start):
    attr, start, size = e[11], struct.unpack_from("<H", e, DIR_CLUS_LO)[0], \
        struct.unpack_from("<I", e, DIR_SIZE)[0]
    u = inode + U
    st32(inode + INODE.i_ino, pos)
    if attr & ATTR_DIR:
        st32(inode + INODE.i_mode, S_IFDIR | 0o755)
        st32(inode + INODE.i_nlink, 2)
        st32(inode + INODE.i_size, 0)
    else:
        st32(inode + INODE.i_mode, S_IFREG | 0o644)
        st32(inode + INODE.i_size, size)
    st32(inode + INODE.i_mtime, struct.unpack_from("<H", e, DIR_WRT_TIME)[0])
    st32(u + MSDOS_I.i_start, start)
    st32(u + MSDOS_I.i_attrs, attr)
    st32(u + MSDOS_I.i_pos, pos)
    st32(u + MSDOS_I.i_dirpos, first_off)
    st32(u + MSDOS_I.i_nslots, nslots)
    st32(u + MSDOS_I.i_cache_idx, 0)
    st32(u + MSDOS_I.i_cache_clu, 0)
    st32(u + MSDOS_I.i_parent, parent_start)


def build_inode(sb, e, pos, first_off, nslots, parent_start):
    """The inode of a directory entry: from the inode cache, or a new one filled from it."""
    inode = iget(sb, pos)
    if inode:
        return inode
    inode = new_inode(sb)
    if not inode:
        return 0
    fill_inode(inode, e, pos, first_off, nslots, parent_start)
    insert_inode_hash(inode)
    return inode


# -- inode operations -------------------------------------------------------------------------
def vfat_lookup(dir, dentry):
    name = dentry_name(dentry)
    if name is None:
        return -ENAMETOOLONG
    want = name.lower()
    found = []

    def match(first, off, block, slot, text, e):
        if text.lower() == want:
            found.append((first, off, block, slot, e))
            return 1
        return 0

    ret = scan_dir(dir, 0, match, False)
    if ret < 0:
        return ret
    if not found:
        d_add(dentry, 0)
        return 0
    first, off, block, slot, e = found[0]
    nslots = (off - first) // DIR_ENTRY + 1
    inode = build_inode(ld32(dir + INODE.i_sb), e, block * ENTRIES_PER_SECTOR + slot, first,
                        nslots, ld32(dir + U + MSDOS_I.i_start))
    if not inode:
        return -ENOMEM
    d_add(dentry, inode)
    return 0


def short_alias(name, taken):
    """An 8.3 alias for a long name: BASE~N.EXT, N chosen so the alias is unused. Each candidate
    is built, space padded, in an 11-byte buffer on the stack (``name_res`` in Linux's
    ``vfat_create_shortname``)."""
    upper = name.upper()
    dot = upper.rfind(".")
    base, ext = (upper[:dot], upper[dot + 1:]) if dot > 0 else (upper, "")
    keep = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"
    base = "".join(ch for ch in base[:32] if ch in keep)[:6] or "_"
    ext = "".join(ch for ch in ext[:16] if ch in keep)[:3]
    alias = alloca(11)
    n = 1
    while n < 100:
        tail = "~" + str(n)
        memset(alias, 0x20, 11)
        stbytes(alias, (base[:8 - len(tail)] + tail).encode("latin-1"))
        stbytes(alias + 8, ext.encode("latin-1"))
        raw = ldbytes(alias, 11)
        if raw not in taken:
            return raw
        n += 1
    return None


def lfn_slots(slots, name, short):
    """Write the long-name slots for ``name`` into the slot array at ``slots``, in on-disk order
    (last piece first); return how many. Each slot holds 13 UCS-2 characters: the name's, then
    one NUL if the name ends inside the slot, then 0xFFFF padding."""
    count = (len(name) + LFN_CHARS - 1) // LFN_CHARS
    checksum = lfn_checksum(short)
    seq = count
    while seq >= 1:
        slot = slots + (count - seq) * DIR_ENTRY
        st8(slot, seq | (LFN_LAST if seq == count else 0))
        st8(slot + LFN_ATTR, ATTR_LFN)
        st8(slot + LFN_TYPE, 0)
        st8(slot + LFN_CHKSUM, checksum)
        st16(slot + LFN_CLUS, 0)
        i = 0
        while i < LFN_CHARS:
            c = (seq - 1) * LFN_CHARS + i
            st16(slot + LFN_OFFSETS[i], ord(name[c]) if c < len(name)
                 else 0 if c == len(name) else 0xFFFF)
            i += 1
        seq -= 1
    return count


def write_slot(dir, off, src, n):
    """Copy ``n`` bytes from ``src`` into the directory at byte offset ``off``."""
    sbi = sbi_of(dir)
    block = dir_block(dir, off // BLOCK)
    if not block:
        return -EIO
    bh = bread(ld32(sbi + MSDOS_SB.dev), block, BLOCK)
    if not bh:
        return -EIO
    memcpy(ld32(bh + BUFFER_HEAD.b_data) + off % BLOCK, src, n)
    mark_buffer_dirty(bh)
    brelse(bh)
    return 0


def add_entry(dir, dentry, attr, start):
    """Write the long-name slots and the 8.3 entry of a new name; returns (first offset,
    short-entry offset, block, slot) or -errno."""
    name = dentry_name(dentry)
    if name is None:
        return -ENAMETOOLONG
    if name in (".", "..") or name.strip(" .") == "":
        return -EINVAL
    for ch in name:
        if ch in BAD_CHARS or ord(ch) < 32:
            return -EINVAL
    need = (len(name) + LFN_CHARS - 1) // LFN_CHARS + 1
    if need > LFN_MAX_SLOTS + 1:
        return -ENAMETOOLONG
    sbi = sbi_of(dir)
    taken = set()
    run = [0, 0]                  # start offset and length of the current run of free slots
    end = [0]

    def slots(first, off, block, slot, text, e):
        end[0] = off + DIR_ENTRY
        if text is None:
            if run[1] < need:
                if run[1] == 0 or off != run[0] + run[1] * DIR_ENTRY:
                    run[0] = off
                    run[1] = 0
                run[1] += 1
            if e[0] == 0 and run[1] >= need:
                return 1                  # past the last entry: no more names to avoid
        else:
            taken.add(e[0:11])
            if run[1] < need:
                run[1] = 0
        return 0

    ret = scan_dir(dir, 0, slots, True)
    if ret < 0:
        return ret
    if run[1] < need:
        if ld32(dir + INODE.i_ino) == MSDOS_ROOT_INO:
            return -ENOSPC
        csize = ld32(sbi + MSDOS_SB.cluster_size)
        nclusters = (end[0] + csize - 1) // csize
        c = get_cluster(dir, nclusters)
        if c < 0:
            return c
        err = zero_cluster(sbi, c)
        if err:
            return err
        if run[1] == 0:
            run[0] = nclusters * csize
    short = short_alias(name, taken)
    if short is None:
        return -EEXIST
    slots = alloca(need * DIR_ENTRY)          # the long-name slots and the 8.3 entry
    count = lfn_slots(slots, name, short)
    now = fat_time()
    stbytes(slots + count * DIR_ENTRY, SHORT.pack(short, attr, 0, 0, now, FAT_DATE_2003,
                                                  FAT_DATE_2003, 0, now, FAT_DATE_2003, start, 0))
    off = run[0]
    i = 0
    while i <= count:
        err = write_slot(dir, off, slots + i * DIR_ENTRY, DIR_ENTRY)
        if err:
            return err
        off += DIR_ENTRY
        i += 1
    short_off = off - DIR_ENTRY
    block = dir_block(dir, short_off // BLOCK)
    return (run[0], short_off, block, short_off % BLOCK // DIR_ENTRY)


def vfat_create(dir, dentry, mode):
    where = add_entry(dir, dentry, ATTR_ARCH, 0)
    if not isinstance(where, tuple):
        return where
    first, off, block, slot = where
    inode = new_inode(ld32(dir + INODE.i_sb))
    if not inode:
        return -ENOMEM
    e = SHORT.pack(BLANK_NAME, ATTR_ARCH, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    fill_inode(inode, e, block * ENTRIES_PER_SECTOR + slot, first, (off - first) // DIR_ENTRY + 1,
               ld32(dir + U + MSDOS_I.i_start))
    insert_inode_hash(inode)
    d_instantiate(dentry, inode)
    return 0


def vfat_mkdir(dir, dentry, mode):
    sbi = sbi_of(dir)
    c = alloc_cluster(sbi)
    if c < 0:
        return c
    err = zero_cluster(sbi, c)
    if err:
        free_chain(sbi, c)
        return err
    parent = ld32(dir + U + MSDOS_I.i_start)
    now = fat_time()
    dot = SHORT.pack(DOT, ATTR_DIR, 0, 0, now, FAT_DATE_2003, FAT_DATE_2003, 0, now,
                     FAT_DATE_2003, c, 0)
    dotdot = SHORT.pack(DOTDOT, ATTR_DIR, 0, 0, now, FAT_DATE_2003, FAT_DATE_2003, 0, now,
                        FAT_DATE_2003, parent, 0)
    bh = bread(ld32(sbi + MSDOS_SB.dev), cluster_block(sbi, c), BLOCK)
    if not bh:
        free_chain(sbi, c)
        return -EIO
    stbytes(ld32(bh + BUFFER_HEAD.b_data), dot + dotdot)
    mark_buffer_dirty(bh)
    brelse(bh)
    where = add_entry(dir, dentry, ATTR_DIR, c)
    if not isinstance(where, tuple):
        free_chain(sbi, c)
        return where
    first, off, block, slot = where
    inode = new_inode(ld32(dir + INODE.i_sb))
    if not inode:
        return -ENOMEM
    e = SHORT.pack(BLANK_NAME, ATTR_DIR, 0, 0, 0, 0, 0, 0, 0, 0, c, 0)
    fill_inode(inode, e, block * ENTRIES_PER_SECTOR + slot, first, (off - first) // DIR_ENTRY + 1,
               parent)
    insert_inode_hash(inode)
    st32(dir + INODE.i_nlink, ld32(dir + INODE.i_nlink) + 1)
    d_instantiate(dentry, inode)
    return 0


def remove_entries(dir, inode):
    """Mark the inode's long-name slots and 8.3 entry deleted."""
    u = inode + U
    off = ld32(u + MSDOS_I.i_dirpos)
    n = ld32(u + MSDOS_I.i_nslots)
    mark = alloca(1)
    st8(mark, DELETED)
    i = 0
    while i < n and i <= LFN_MAX_SLOTS:
        err = write_slot(dir, off + i * DIR_ENTRY, mark, 1)
        if err:
            return err
        i += 1
    return 0


def vfat_unlink(dir, dentry):
    inode = ld32(dentry + DENTRY.d_inode)
    err = remove_entries(dir, inode)
    if err:
        return err
    st32(inode + INODE.i_nlink, 0)
    return 0


def vfat_rmdir(dir, dentry):
    inode = ld32(dentry + DENTRY.d_inode)

    def busy(first, off, block, slot, text, e):
        if e[0:11] in (DOT, DOTDOT):
            return 0
        return 1

    ret = scan_dir(inode, 0, busy, False)
    if ret < 0:
        return ret
    if ret:
        return -ENOTEMPTY
    err = remove_entries(dir, inode)
    if err:
        return err
    st32(inode + INODE.i_nlink, 0)
    st32(dir + INODE.i_nlink, ld32(dir + INODE.i_nlink) - 1)
    return 0


def vfat_truncate(inode):
    """Cut the chain to what ``i_size`` needs (the VFS has set the new size)."""
    sbi = sbi_of(inode)
    u = inode + U
    csize = ld32(sbi + MSDOS_SB.cluster_size)
    keep = (ld32(inode + INODE.i_size) + csize - 1) // csize
    st32(u + MSDOS_I.i_cache_idx, 0)
    st32(u + MSDOS_I.i_cache_clu, 0)
    if keep == 0:
        start = ld32(u + MSDOS_I.i_start)
        st32(u + MSDOS_I.i_start, 0)
        free_chain(sbi, start)
    else:
        last = bmap(inode, keep - 1)
        if last:
            nxt = fat_get(sbi, last)
            fat_set(sbi, last, FAT_EOC)
            free_chain(sbi, nxt)
    st32(u + MSDOS_I.i_cache_idx, 0)
    st32(u + MSDOS_I.i_cache_clu, 0)
    mark_inode_dirty(inode)


# -- super operations -------------------------------------------------------------------------
def vfat_write_inode(inode, wait):
    """Copy size and first cluster back into the inode's 8.3 directory entry."""
    if ld32(inode + INODE.i_ino) == MSDOS_ROOT_INO or ld32(inode + INODE.i_nlink) == 0:
        return 0
    sbi = sbi_of(inode)
    u = inode + U
    pos = ld32(u + MSDOS_I.i_pos)
    bh = bread(ld32(sbi + MSDOS_SB.dev), pos // ENTRIES_PER_SECTOR, BLOCK)
    if not bh:
        return -EIO
    entry = ld32(bh + BUFFER_HEAD.b_data) + pos % ENTRIES_PER_SECTOR * DIR_ENTRY
    st16(entry + DIR_CLUS_LO, ld32(u + MSDOS_I.i_start))
    if ld32(inode + INODE.i_mode) & S_IFDIR:
        st32(entry + DIR_SIZE, 0)
    else:
        st32(entry + DIR_SIZE, ld32(inode + INODE.i_size))
    st16(entry + DIR_WRT_TIME, fat_time())
    st16(entry + DIR_WRT_DATE, FAT_DATE_2003)
    mark_buffer_dirty(bh)
    brelse(bh)
    return 0


def vfat_delete_inode(inode):
    """The last reference to an unlinked inode is gone: free its clusters."""
    st32(inode + INODE.i_size, 0)
    sbi = sbi_of(inode)
    start = ld32(inode + U + MSDOS_I.i_start)
    st32(inode + U + MSDOS_I.i_start, 0)
    free_chain(sbi, start)


def vfat_put_super(sb):
    sbi = ld32(sb + SUPER_BLOCK.s_fs_info)
    kfree(ld32(sbi + MSDOS_SB.name_buf))
    kfree(sbi)
    st32(sb + SUPER_BLOCK.s_fs_info, 0)


def vfat_write_super(sb):
    st32(sb + SUPER_BLOCK.s_dirt, 0)


def vfat_statfs(sb, buf):
    sbi = ld32(sb + SUPER_BLOCK.s_fs_info)
    free = ld32(sbi + MSDOS_SB.free_clusters)
    if free == FREE_UNKNOWN:
        free = 0
        dev = ld32(sbi + MSDOS_SB.dev)
        limit = ld32(sbi + MSDOS_SB.clusters) + FIRST_CLUSTER
        i = 0
        while i * 256 < limit:
            bh = bread(dev, ld32(sbi + MSDOS_SB.fat_start) + i, BLOCK)
            if not bh:
                return -EIO
            entries = struct.unpack("<256H", ldbytes(ld32(bh + BUFFER_HEAD.b_data), BLOCK))
            brelse(bh)
            if (i + 1) * 256 > limit:
                entries = entries[:limit - i * 256]
            if i == 0:
                entries = entries[FIRST_CLUSTER:]
            free += entries.count(FAT_FREE)
            i += 1
        st32(sbi + MSDOS_SB.free_clusters, free)
    st32(buf + STATFS.f_type, MSDOS_SUPER_MAGIC)
    st32(buf + STATFS.f_bsize, ld32(sbi + MSDOS_SB.cluster_size))
    st32(buf + STATFS.f_blocks, ld32(sbi + MSDOS_SB.clusters))
    st32(buf + STATFS.f_bfree, free)
    st32(buf + STATFS.f_namelen, 255)
    return 0


def vfat_read_super(sb, data, silent):
    dev = ld32(sb + SUPER_BLOCK.s_dev)
    if set_blocksize(dev, BLOCK):
        return -EINVAL
    bh = bread(dev, 0, BLOCK)
    if not bh:
        return -EIO
    b = ld32(bh + BUFFER_HEAD.b_data)
    spc = ld8(b + BPB_SEC_PER_CLUS)
    reserved = ld16(b + BPB_RSVD_SEC)
    fats = ld8(b + BPB_NUM_FATS)
    root_entries = ld16(b + BPB_ROOT_ENTS)
    fat_length = ld16(b + BPB_FAT_SZ16)
    total = ld16(b + BPB_TOT_SEC16) or ld32(b + BPB_TOT_SEC32)
    good = (ld16(b + BS_SIGNATURE) == SIGNATURE and ld16(b + BPB_BYTES_PER_SEC) == BLOCK
            and spc in (1, 2, 4, 8, 16, 32, 64) and fats and fat_length and reserved
            and root_entries and root_entries % ENTRIES_PER_SECTOR == 0)
    brelse(bh)
    if not good:
        return -EINVAL
    dir_start = reserved + fats * fat_length
    data_start = dir_start + root_entries // ENTRIES_PER_SECTOR
    if total <= data_start:
        return -EINVAL
    clusters = (total - data_start) // spc
    if clusters < MIN_FAT16_CLUSTERS or (clusters + FIRST_CLUSTER) * 2 > fat_length * BLOCK:
        return -EINVAL
    sbi = kmalloc(MSDOS_SB.size, 0)
    if not sbi:
        return -ENOMEM
    memset(sbi, 0, MSDOS_SB.size)
    names = kmalloc(NAME_BUF, 0)
    if not names:
        kfree(sbi)
        return -ENOMEM
    st32(sbi + MSDOS_SB.magic, SBI_MAGIC)
    st32(sbi + MSDOS_SB.dev, dev)
    st32(sbi + MSDOS_SB.sec_per_clus, spc)
    st32(sbi + MSDOS_SB.cluster_size, spc * BLOCK)
    st32(sbi + MSDOS_SB.fats, fats)
    st32(sbi + MSDOS_SB.fat_start, reserved)
    st32(sbi + MSDOS_SB.fat_length, fat_length)
    st32(sbi + MSDOS_SB.dir_start, dir_start)
    st32(sbi + MSDOS_SB.dir_entries, root_entries)
    st32(sbi + MSDOS_SB.data_start, data_start)
    st32(sbi + MSDOS_SB.clusters, clusters)
    st32(sbi + MSDOS_SB.free_clusters, FREE_UNKNOWN)
    st32(sbi + MSDOS_SB.prev_free, FIRST_CLUSTER - 1)
    st32(sbi + MSDOS_SB.name_buf, names)
    st32(sb + SUPER_BLOCK.s_fs_info, sbi)
    st32(sb + SUPER_BLOCK.s_blocksize, BLOCK)
    st32(sb + SUPER_BLOCK.s_magic, MSDOS_SUPER_MAGIC)
    root = new_inode(sb)
    if not root:
        st32(sb + SUPER_BLOCK.s_fs_info, 0)
        kfree(names)
        kfree(sbi)
        return -ENOMEM
    st32(root + INODE.i_ino, MSDOS_ROOT_INO)
    st32(root + INODE.i_mode, S_IFDIR | 0o755)
    st32(root + INODE.i_nlink, 2)
    st32(root + U + MSDOS_I.i_attrs, ATTR_DIR)
    insert_inode_hash(root)
    dentry = d_alloc_root(root)
    if not dentry:
        iput(root)
        st32(sb + SUPER_BLOCK.s_fs_info, 0)
        kfree(names)
        kfree(sbi)
        return -ENOMEM
    st32(sb + SUPER_BLOCK.s_root, dentry)
    return 0


# -- file operations --------------------------------------------------------------------------
def file_inode(file):
    return ld32(ld32(file + FILE.f_dentry) + DENTRY.d_inode)


def vfat_read(file, buf, count):
    inode = file_inode(file)
    sbi = sbi_of(inode)
    dev = ld32(sbi + MSDOS_SB.dev)
    csize = ld32(sbi + MSDOS_SB.cluster_size)
    pos = ld32(file + FILE.f_pos)
    size = ld32(inode + INODE.i_size)
    if pos >= size or count <= 0:
        return 0
    if count > size - pos:
        count = size - pos
    done = 0
    while done < count:
        c = bmap(inode, pos // csize)
        if not c:
            break
        block = cluster_block(sbi, c) + pos % csize // BLOCK
        off = pos % BLOCK
        n = min(BLOCK - off, count - done)
        bh = bread(dev, block, BLOCK)
        if not bh:
            if done:
                break
            return -EIO
        left = copy_to_user(buf + done, ld32(bh + BUFFER_HEAD.b_data) + off, n)
        brelse(bh)
        if left:
            return -EFAULT
        pos += n
        done += n
    st32(file + FILE.f_pos, pos)
    return done


def vfat_write(file, buf, count):
    inode = file_inode(file)
    sbi = sbi_of(inode)
    dev = ld32(sbi + MSDOS_SB.dev)
    csize = ld32(sbi + MSDOS_SB.cluster_size)
    pos = ld32(file + FILE.f_pos)
    done = 0
    err = 0
    while done < count:
        c = get_cluster(inode, pos // csize)
        if c <= 0:
            err = c or -EIO
            break
        block = cluster_block(sbi, c) + pos % csize // BLOCK
        off = pos % BLOCK
        n = min(BLOCK - off, count - done)
        whole = off == 0 and (n == BLOCK or pos + n >= ld32(inode + INODE.i_size))
        if whole:
            bh = getblk(dev, block, BLOCK)
        else:
            bh = bread(dev, block, BLOCK)
        if not bh:
            err = -EIO
            break
        data = ld32(bh + BUFFER_HEAD.b_data)
        left = copy_from_user(data + off, buf + done, n)
        if whole and n < BLOCK:
            memset(data + n, 0, BLOCK - n)
        if whole:
            mark_buffer_uptodate(bh)
        mark_buffer_dirty(bh)
        brelse(bh)
        if left:
            err = -EFAULT
            break
        pos += n
        done += n
        if pos > ld32(inode + INODE.i_size):
            st32(inode + INODE.i_size, pos)
    st32(file + FILE.f_pos, pos)
    if done:
        mark_inode_dirty(inode)
        return done
    return err


def vfat_readdir(file, ctx):
    inode = file_inode(file)
    names = ld32(sbi_of(inode) + MSDOS_SB.name_buf)

    def emit(first, off, block, slot, text, e):
        raw = text.encode("latin-1", "replace")[:255]
        stbytes(names, raw)
        kind = DT_DIR if e[11] & ATTR_DIR else DT_REG
        if vfs_filldir(ctx, names, len(raw), first, block * ENTRIES_PER_SECTOR + slot, kind):
            st32(file + FILE.f_pos, first)
            return 1
        st32(file + FILE.f_pos, off + DIR_ENTRY)
        return 0

    ret = scan_dir(inode, ld32(file + FILE.f_pos), emit, False)
    if ret < 0:
        return ret
    return 0


def vfat_fsync(file, datasync):
    inode = file_inode(file)
    err = vfat_write_inode(inode, 1)
    if err:
        return err
    return fsync_dev(ld32(sbi_of(inode) + MSDOS_SB.dev))


VFAT_FS_TYPE = FileSystemType(read_super=vfat_read_super)
VFAT_SOPS = SuperOperations(write_inode=vfat_write_inode, delete_inode=vfat_delete_inode,
                            put_super=vfat_put_super, write_super=vfat_write_super,
                            statfs=vfat_statfs)
VFAT_IOPS = InodeOperations(lookup=vfat_lookup, create=vfat_create, mkdir=vfat_mkdir,
                            unlink=vfat_unlink, rmdir=vfat_rmdir, truncate=vfat_truncate)
VFAT_FOPS = FileOperations(read=vfat_read, write=vfat_write, readdir=vfat_readdir,
                           fsync=vfat_fsync)


def init_module():
    return register_filesystem("vfat", VFAT_FS_TYPE, VFAT_SOPS, VFAT_IOPS, VFAT_FOPS)


def cleanup_module():
    unregister_filesystem("vfat")

"""``compile-local``: untar a source tree onto VFAT and build it (SOSP'03 Table 4, Figure 8).

The user program ``mkfs.vfat``s the disk, mounts it, and then, one directory of a generated,
seeded source tree at a time, "untars" the sources (long file names, sizes from a few hundred
bytes to tens of KiB) and "compiles" them: it reads each source back, spends user-mode CPU time in
proportion to its size, and writes an object file whose bytes are a fixed function of the source.
When the simulated deadline has passed it starts no new file, but always finishes: it reads every
file back and checks it, lists every directory, runs a ``make clean`` of one directory (unlink),
unmounts (which syncs), and runs ``fsck.vfat`` on the disk image and compares every file on it
with what it wrote. Any difference or any fsck finding fails the run.

The paper's compile-local is CPU-bound and dominated by user time (97.5% CPU natively; about
480 s of user time against 29.5 s in the kernel, Figure 8): the compiler's cost per source byte
is the knob that sets that ratio here.
"""
from __future__ import annotations

import zlib
from typing import Callable

import numpy as np

from ..errors import positive_int
from ..kernel import errno
from ..kernel.vfs import O_CREAT, O_RDONLY, O_TRUNC, O_WRONLY
from ..tools import fsck_vfat, mkfs_vfat, read_files
from .base import Measurement, WorkloadFailed

MOUNT = "/mnt"
# User-mode CPU cycles the "compiler" spends per source byte (about 425 KB/s at 1.7 GHz): an
# estimate, chosen so that file-system crossings per second of user time come out near the
# paper's (15.25 M XPCs over ~480 user seconds, Figure 8).
# CALIBRATION: compile-crossings (see nookslab/eval/calibration.py)
COMPILE_CYCLES_PER_BYTE = 4_000
# Kernel time per source outside the file system: cpp, cc1 and as forked, exec'd and exited, with
# their page faults. An estimate that makes kernel time about 1/16 of user time natively, the
# paper's 29.5 s : 480 s (Figure 8).
# CALIBRATION: compile-kernel-share (see nookslab/eval/calibration.py)
EXEC_KERNEL_CYCLES = 1_000_000
# "tar xzf": decompressing and copying, per byte (estimate).
UNTAR_CYCLES_PER_BYTE = 20
WORDS = ("buffer", "cache", "network", "interface", "device", "driver", "memory", "manager",
         "scheduler", "protocol", "socket", "inode", "directory", "allocator", "interrupt",
         "handler", "timer", "queue", "request", "block", "journal", "super", "mount", "page")
DIRS = ("kernel", "drivers", "filesystems", "networking stack", "memory management", "include",
        "arch-i386", "sound core", "init", "library routines")


def _name(rng: np.random.Generator, serial: int) -> str:
    words = [WORDS[int(i)] for i in rng.integers(0, len(WORDS), size=int(rng.integers(2, 5)))]
    sep = "_" if rng.random() < 0.7 else " "
    return f"{sep.join(words)}_{serial:03d}.c"


def _source(rng: np.random.Generator, serial: int) -> bytes:
    size = int(np.clip(rng.lognormal(8.0, 0.9), 200, 48_000))
    text = rng.integers(32, 127, size=size, dtype=np.uint8)
    text[rng.integers(0, size, size=max(1, size // 40))] = 10          # lines
    return f"/* file {serial} */\n".encode() + text.tobytes()


def object_code(source: bytes) -> bytes:
    """What the "compiler" produces: a header with the source's CRC, then a fixed scrambling of
    three quarters of the source bytes (a deterministic function of the source alone)."""
    body = np.frombuffer(source, dtype=np.uint8)[::-1][: len(source) * 3 // 4] ^ np.uint8(0x5A)
    return b"\x7fELF" + zlib.crc32(source).to_bytes(4, "little") + body.tobytes()


class _Tree:
    """The generated source tree, produced directory by directory from the workload's rng."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.serial = 0
        self.used_dirs = 0

    def next_dir(self) -> tuple[str, int]:
        base = DIRS[self.used_dirs % len(DIRS)]
        name = base if self.used_dirs < len(DIRS) else f"{base} {self.used_dirs // len(DIRS)}"
        self.used_dirs += 1
        return f"{MOUNT}/{name}", int(self.rng.integers(3, 9))

    def next_file(self, directory: str) -> tuple[str, bytes]:
        self.serial += 1
        return f"{directory}/{_name(self.rng, self.serial)}", _source(self.rng, self.serial)


def compile_local(kernel, proc, extension, duration, rng, mount: str = MOUNT,
                  cycles_per_byte: int = COMPILE_CYCLES_PER_BYTE,
                  after_mount: Callable | None = None, files: int | None = None) -> Measurement:
    """Run compile-local for ``duration`` cycles of simulated time.

    ``files``: compile exactly this many sources instead of stopping at the deadline (the same
    work in every configuration, for latency comparisons such as Table 4's).
    ``after_mount(kernel)`` is a test-only hook called once the file system is mounted (tests use
    it to corrupt the driver's state and check that the run notices).
    """
    if files is not None:
        files = positive_int(files, "files")

    def more() -> bool:
        if files is not None:
            return len(sources) < files
        return not sources or clock.now < deadline

    def compile_more() -> bool:
        if files is not None:
            return True
        return not m.operations or clock.now < deadline
    vfs = kernel.subsystems["vfs"]
    disk = kernel.subsystems["block"].disk()
    clock = kernel.clock

    def call(fn, *args):
        return kernel.syscall(proc, fn, *args)

    def check(ret, what: str) -> None:
        if isinstance(ret, int) and ret < 0:
            raise WorkloadFailed(f"{what} failed: -{errno.name(ret)}")

    def write_file(path: str, data: bytes) -> None:
        fd = call(vfs.sys_open, path, O_CREAT | O_WRONLY | O_TRUNC, 0o644)
        check(fd, f"creat {path}")
        n = call(vfs.sys_write, fd, data)
        check(n, f"write {path}")
        if n != len(data):
            raise WorkloadFailed(f"write {path} wrote {n} of {len(data)} bytes")
        check(call(vfs.sys_close, fd), f"close {path}")

    def read_file(path: str) -> bytes:
        fd = call(vfs.sys_open, path, O_RDONLY, 0)
        check(fd, f"open {path}")
        data = call(vfs.sys_read, fd, 1 << 20)
        check(data, f"read {path}")
        check(call(vfs.sys_close, fd), f"close {path}")
        return data

    start = clock.now
    deadline = start + duration
    if any(m.path == mount for m in call(vfs.sys_mounts)):
        check(call(vfs.sys_umount, mount), f"umount {mount}")
    mkfs_vfat(disk.image())                             # the user-space tool, on the raw disk
    check(call(vfs.sys_mount, extension, "/dev/hda", mount), f"mount {mount}")
    if after_mount is not None:
        after_mount(kernel)
    tree = _Tree(rng)
    expected: dict[str, bytes] = {}
    sources: list[str] = []
    dirs: dict[str, list[str]] = {}
    m = Measurement()
    user = 0
    while more():
        directory, count = tree.next_dir()
        check(call(vfs.sys_mkdir, directory, 0o755), f"mkdir {directory}")
        dirs[directory] = []
        batch = []
        for _ in range(count):                          # tar xzf: this directory's sources
            if sources and not more():
                break
            path, data = tree.next_file(directory)
            cycles = len(data) * UNTAR_CYCLES_PER_BYTE
            kernel.charge(cycles)
            user += cycles
            write_file(path, data)
            expected[path] = data
            dirs[directory].append(path.rsplit("/", 1)[1])
            sources.append(path)
            batch.append(path)
        for path in batch:                              # make: compile each source
            if not compile_more():
                break
            source = read_file(path)
            if zlib.crc32(source) != zlib.crc32(expected[path]):
                raise WorkloadFailed(f"{path} read back wrong before compiling")
            call(kernel.charge, EXEC_KERNEL_CYCLES)      # fork + exec of the compiler passes
            cycles = len(source) * cycles_per_byte
            kernel.charge(cycles)
            user += cycles
            obj = path[:-2] + ".o"
            write_file(obj, object_code(source))
            expected[obj] = object_code(source)
            dirs[directory].append(obj.rsplit("/", 1)[1])
            m.operations += 1
            m.nbytes += len(source)
    # verify through the file system
    for path in sorted(expected):
        if zlib.crc32(read_file(path)) != zlib.crc32(expected[path]):
            raise WorkloadFailed(f"{path}: checksum mismatch on read-back")
    for directory, names in dirs.items():
        listed = call(vfs.sys_listdir, directory)
        check(listed, f"readdir {directory}")
        if sorted(listed) != sorted(names):
            raise WorkloadFailed(f"readdir {directory} listed {len(listed)} names, "
                                 f"expected {len(names)}")
    # make clean in the first directory: unlink its objects
    first = next(iter(dirs))
    for name in [n for n in dirs[first] if n.endswith(".o")]:
        check(call(vfs.sys_unlink, f"{first}/{name}"), f"unlink {first}/{name}")
        del expected[f"{first}/{name}"]
    check(call(vfs.sys_umount, mount), f"umount {mount}")
    # fsck.vfat, and every file on the image must be what was written
    try:
        findings = fsck_vfat(disk.image())
        on_disk = read_files(disk.image()) if not findings else {}
    except Exception as exc:                            # noqa: BLE001 - a tool gave up
        raise WorkloadFailed(f"fsck.vfat could not read the volume: {exc!r}") from None
    if findings:
        raise WorkloadFailed(f"fsck.vfat: {len(findings)} problems, first: {findings[0]}")
    wanted = {p[len(mount):]: d for p, d in expected.items()}
    if set(on_disk) != set(wanted):
        raise WorkloadFailed(f"the disk holds {len(on_disk)} files, expected {len(wanted)}")
    for path in sorted(wanted):
        if on_disk[path] != wanted[path]:
            raise WorkloadFailed(f"{mount}{path}: wrong contents on disk after umount")
    m.total_latency = clock.now - start
    m.notes = f"user {user} cycles, {len(expected)} files on disk, {disk.writes} disk writes"
    return m

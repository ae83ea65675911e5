"""Shadow drivers (Swift et al., "Recovering Device Drivers", OSDI 2004): transparent recovery.

Nooks' restart (SOSP'03 section 4.5) reloads a failed driver in its *initial* state: the
interface is down, its address is the card's factory one, an open ``/dev/dsp`` has no driver
state behind it, and the application using it sees errors. A shadow driver, one per driver
*class*, restores the state the driver had *at the time of failure* instead:

- **Taps** sit on the ops tables of driver wrappers the Nooks layer generates (one tap per
  member). In *passive* mode a tap calls the driver's wrapper and then shows the shadow the call
  and its result; the shadow logs, with class knowledge, only what rebuilding the state needs
  (configuration calls, open handles, requests in flight).
- When Nooks detects a failure in a shadowed driver, the shadow switches to *active* mode: taps
  call the shadow instead of the driver, and it answers or queues the kernel's requests.
- The recovery manager (policy ``"shadow"``) unloads and reloads the driver as for ``restart``,
  then asks the shadow to **restore the configuration** and to **replay or cancel pending
  requests** by its class's rule, and returns it to passive mode.

Classes built here: :class:`NetworkShadow` (interface address and state, MAC address set by
``ndo_set_mac_address``, MTU, multicast flags; packets still queued in the kernel for the
driver are *replayed* on the new driver (never handed over: no duplicate), those the old driver
had taken are *cancelled*: the protocols above retransmit) and :class:`SoundShadow` (open
``/dev/dsp`` files and each one's OSS configuration ioctls; a write that arrives during the
failure waits for the restart and is then *replayed* to the new driver; samples already in the
card's ring are lost: a glitch). A file-system shadow is not built: its state is on disk and in
the buffer cache (the VFAT corruption of SOSP'03 section 8), a different problem; file systems
fall back to ``restart``.

Limits, as in the paper: a shadow handles fail-stop, transient failures. A deterministic bug that
recurs after the replay fails again; the agent's restart limit (``max_restarts`` per
``interval``) then turns the policy into ``disable``: a give-up, not a loop.
"""
from __future__ import annotations

import dataclasses

from ..kernel import errno

#: The driver classes with a shadow, and the class rule for pending requests.
CLASS_RULES = {"network": "replay queued, cancel taken", "sound": "replay"}


def driver_class(kernel, extension: str) -> str | None:
    """The class of ``extension`` by its device (``"network"``, ``"sound"``), or None."""
    spec = kernel.drivers.get(extension)
    if spec is None or spec.device_name is None:
        return None
    device = kernel.machine.devices.get(spec.device_name)
    where = type(device).__module__ if device is not None else ""
    if ".sound" in where:
        return "sound"
    if ".nic" in where:
        return "network"
    return None


class Shadow:
    """What every class shadow has: its extension, mode, log and counters."""

    kind = ""

    def __init__(self, shadows, extension: str):
        self.shadows = shadows
        self.kernel = shadows.kernel
        self.extension = extension
        self.active = False
        self.logged = 0            # configuration calls logged in passive mode
        self.answered = 0          # requests answered or queued in active mode
        self.replayed = 0
        self.cancelled = 0
        self.restores = 0

    @property
    def rule(self) -> str:
        return CLASS_RULES[self.kind]

    # -- taps ---------------------------------------------------------------------------------
    def tap(self, member: str, fn):
        """The tap on ops-table member ``member`` whose driver wrapper is ``fn``."""
        passive = getattr(self, f"log_{member}", None)
        active = getattr(self, f"serve_{member}", None)
        lost = getattr(self, f"lost_{member}", None)
        charge = self.kernel.charge
        cost = self.kernel.cost.shadow_tap

        def tap(*args):
            if self.active:
                self.answered += 1
                if active is not None:
                    return active(fn, *args)
                return fn(*args)
            ret = fn(*args)
            if self.active:
                # The driver failed during this very request: it was in flight, and the
                # shadow answers it by its class's rule (queue, replay or cancel).
                self.answered += 1
                if lost is not None:
                    return lost(*args)
                return active(fn, *args) if active is not None else ret
            if passive is not None:
                charge(cost)
                passive(ret, *args)
            return ret

        tap.__name__ = f"shadow_tap_{member}"
        tap.__wrapped__ = fn
        return tap

    def describe(self) -> str:
        return f"{self.kind} shadow of {self.extension}"


class NetworkShadow(Shadow):
    """The shadow of a network driver (``net_device_ops``)."""

    kind = "network"

    def __init__(self, shadows, extension):
        super().__init__(shadows, extension)
        self.name: str | None = None       # the interface name (eth0)
        self.up = False
        self.ip = 0
        self.mac: bytes | None = None      # set by ndo_set_mac_address (None: the card's own)
        self.mtu = 0
        self.flags = 0
        self.queued: list[int] = []        # those sk_buffs, kept across the restart

    def _net(self):
        return self.kernel.subsystems["net"]

    def _record(self, dev: int):
        from ..kernel.net.netdevice import IFF_ALLMULTI, IFF_PROMISC, NET_DEVICE
        nd = self._net().netdevs.get(dev)
        m = self.kernel.mmu
        if nd is not None:
            self.name = nd.name
            self.ip = nd.ip
        self.mtu = m.ld32(dev + NET_DEVICE.mtu)
        self.flags = m.ld32(dev + NET_DEVICE.flags) & (IFF_PROMISC | IFF_ALLMULTI)

    # passive mode: what the kernel asked, once the driver did it
    def log_ndo_open(self, ret, dev):
        if ret == 0:
            self.up = True
            self.logged += 1
            self._record(dev)

    def log_ndo_stop(self, ret, dev):
        self.up = False
        self.logged += 1

    def log_ndo_set_mac_address(self, ret, dev, addr):
        if ret == 0:
            self.mac = self.kernel.mmu.read(addr + 2, 6)
            self.logged += 1

    def log_ndo_set_multicast_list(self, ret, dev):
        self._record(dev)
        self.logged += 1

    def lost_ndo_start_xmit(self, skb, dev):
        """The driver failed while taking this packet: it may sit in the old ring (the tracker
        frees it at recovery). Cancel: report it sent; the protocols retransmit."""
        self.cancelled += 1
        return 0

    # active mode: stand in for the driver
    def serve_ndo_start_xmit(self, fn, skb, dev):
        return 1                            # busy: the kernel keeps the packet queued

    def serve_ndo_open(self, fn, dev):
        self.up = True                      # queued: the new driver opens at restore
        self._record(dev)
        return 0

    def serve_ndo_stop(self, fn, dev):
        # The recovery's own cleanup (unregister_netdev): not a configuration change. The
        # packets still queued in the kernel were never handed to the driver: keep them, to
        # replay on the new driver (no risk of a duplicate).
        nd = self._net().netdevs.get(dev)
        if nd is not None:
            self.queued.extend(nd.qdisc)
            nd.qdisc.clear()
        return 0

    def serve_ndo_set_mac_address(self, fn, dev, addr):
        self.mac = self.kernel.mmu.read(addr + 2, 6)
        return 0                            # applied to the new driver at restore

    def serve_ndo_get_stats(self, fn, dev):
        return 0

    def serve_ndo_tx_timeout(self, fn, dev):
        return None

    def serve_ndo_set_multicast_list(self, fn, dev):
        return None

    def serve_ndo_do_ioctl(self, fn, dev, ifr, cmd):
        return -errno.EAGAIN

    # recovery
    def restore(self, step) -> bool:
        from ..kernel.net.netdevice import NET_DEVICE
        k = self.kernel
        net = self._net()
        # the interface the reloaded driver registered: its newest one
        mine = [d for d in net.netdevs.values() if d.owner == self.extension]
        nd = mine[-1] if mine else None
        if nd is None:
            step("shadow restore", "the reloaded driver registered no interface")
            return False
        m = k.mmu
        if self.name and nd.name != self.name and net.by_name(self.name) is None:
            m.write(nd.addr + NET_DEVICE.name, self.name.encode().ljust(16, b"\0"))
            nd.name = self.name
        done = []
        if self.mac is not None and nd.ops.ndo_set_mac_address is not None:
            buf = k.heap.kmalloc(16, "kernel")
            m.write(buf, b"\0\0" + self.mac + bytes(8))
            ret = nd.ops.ndo_set_mac_address(nd.addr, buf)
            k.heap.kfree(buf)
            done.append(f"mac {self.mac.hex(':')}" + ("" if ret == 0 else f" failed ({ret})"))
        if self.mtu:
            m.st32(nd.addr + NET_DEVICE.mtu, self.mtu)
            done.append(f"mtu {self.mtu}")
        if self.flags:
            m.st32(nd.addr + NET_DEVICE.flags, m.ld32(nd.addr + NET_DEVICE.flags) | self.flags)
            done.append(f"flags {self.flags:#x}")
        ok = True
        if self.up:
            ret = net.ifup(nd.name, self.ip)
            ok = ret == 0
            done.append(f"{nd.name} up" + ("" if ok else f" failed ({ret})"))
        step("restore configuration", ", ".join(done) or "nothing configured")
        queued, self.queued = self.queued, []
        from ..kernel.net.skbuff import SK_BUFF
        for skb in queued:
            if nd.up:
                m.st32(skb + SK_BUFF.dev, nd.addr)
                nd.qdisc.append(skb)
            else:
                net.kfree_skb(skb)
        self.replayed += len(queued) if nd.up else 0
        step("replay pending", f"{len(queued)} queued transmit(s) "
                               + ("requeued on the new driver" if nd.up else
                                  "dropped (interface down)"))
        if nd.up and queued:
            net.qdisc_run(nd)
        step("cancel pending", "packets the old driver had already taken are lost; "
                               "the protocols retransmit")
        return ok


@dataclasses.dataclass
class _OpenFile:
    file: int                  # the kernel's struct file (it outlives the driver)
    process: object            # who opened it (the ioctls replay in its context)
    config: dict               # ioctl -> the value the driver settled on


class SoundShadow(Shadow):
    """The shadow of a sound driver (``/dev/dsp``'s ``file_operations``)."""

    kind = "sound"

    def __init__(self, shadows, extension):
        super().__init__(shadows, extension)
        self.files: dict[int, _OpenFile] = {}
        self.minor: int | None = None

    def _user_value(self, arg: int) -> int | None:
        k = self.kernel
        if not k.user_range_ok(arg, 4):
            return None
        return k.mmu.ld32(arg)

    def log_open(self, ret, inode, f):
        from ..kernel.chrdev import INODE
        if ret == 0:
            self.files[f] = _OpenFile(f, self.kernel.current, {})
            self.minor = self.kernel.mmu.ld32(inode + INODE.i_rdev) & 0xFF
            self.logged += 1

    def log_release(self, ret, inode, f):
        self.files.pop(f, None)

    def log_ioctl(self, ret, inode, f, cmd, arg):
        from ..kernel.sound import CONFIGURATION_IOCTLS
        entry = self.files.get(f)
        if entry is not None and cmd in CONFIGURATION_IOCTLS and ret >= 0:
            value = self._user_value(arg)
            if value is not None:
                entry.config[cmd] = value
                self.logged += 1

    # active mode: requests wait for the restart, then go to the new driver
    def _forward(self, member: str, *args):
        shadows = self.shadows
        if not shadows.recover_now(self.extension):
            return -errno.EIO
        unit = self.kernel.subsystems["sound"].units.get(self.minor)
        fn = getattr(unit.fops, member) if unit is not None else None
        if fn is None:
            return -errno.ENODEV
        self.replayed += 1
        return fn(*args)

    def serve_write(self, fn, f, buf, count):
        return self._forward("write", f, buf, count)

    def serve_ioctl(self, fn, inode, f, cmd, arg):
        unit = self.kernel.subsystems["sound"].units.get(self.minor)
        ret = self._forward("ioctl", unit.inode if unit else inode, f, cmd, arg)
        if ret >= 0:
            self.log_ioctl(ret, inode, f, cmd, arg)
        return ret

    def serve_release(self, fn, inode, f):
        self.files.pop(f, None)
        return 0

    def serve_open(self, fn, inode, f):
        return -errno.EAGAIN

    def serve_read(self, fn, f, buf, count):
        return -errno.EAGAIN

    def restore(self, step) -> bool:
        k = self.kernel
        snd = k.subsystems["sound"]
        unit = snd.units.get(self.minor) if self.minor is not None else snd.unit_of(self.extension)
        if unit is None:
            step("shadow restore", "the reloaded driver registered no /dev/dsp unit")
            return False
        ok = True
        reopened = replayed = 0
        for entry in list(self.files.values()):
            saved = k.current
            if entry.process is not None:
                k.current = entry.process
            try:
                # The application's struct file stays; the new driver opens it afresh.
                snd._open[entry.file] = unit.minor
                ret = unit.fops.open(unit.inode, entry.file) if unit.fops.open else 0
                if ret:
                    ok = False
                    continue
                reopened += 1
                proc = entry.process
                for cmd, value in entry.config.items():
                    if proc is None:
                        break
                    slot = proc.ubuf + proc.usize - 16
                    k.mmu.st32(slot, value)
                    r = unit.fops.ioctl(unit.inode, entry.file, cmd, slot)
                    replayed += 1
                    ok = ok and r >= 0
            finally:
                k.current = saved
        step("restore configuration", f"{reopened} open file(s) reopened, {replayed} "
                                      "configuration ioctl(s) replayed")
        step("replay pending", "writes that wait for the restart go to the new driver; "
                               "samples in the old ring are lost")
        return ok


SHADOW_CLASSES = {"network": NetworkShadow, "sound": SoundShadow}


class ShadowManager:
    """The shadow recovery manager of one isolation manager: one shadow per shadowed driver.

    Shadows attach when a driver loads under the ``"shadow"`` policy (set it before the load:
    the taps are placed when the driver hands over its ops tables) and live across its
    restarts. ``shadows[extension]`` is the shadow of a driver.
    """

    def __init__(self, manager):
        self.manager = manager
        self.kernel = manager.kernel
        self.shadows: dict[str, Shadow] = {}
        manager.recovery.observers.append(self.failed)

    def wanted(self, extension: str) -> bool:
        return self.manager.recovery.agent.policy_for(extension) == "shadow"

    def shadow_of(self, extension: str) -> Shadow | None:
        shadow = self.shadows.get(extension)
        if shadow is None and self.wanted(extension):
            cls = SHADOW_CLASSES.get(driver_class(self.kernel, extension))
            if cls is not None:
                shadow = self.shadows[extension] = cls(self, extension)
                self.kernel.events.add("shadow", extension, f"{shadow.describe()} attached")
        return shadow

    def tap_table(self, domain, table):
        """The ops table ``table`` (of driver wrappers) with a tap on every member."""
        extension = domain.modules[-1] if domain.modules else domain.name
        shadow = self.shadow_of(extension)
        if shadow is None:
            return table
        changes = {f.name: shadow.tap(f.name, getattr(table, f.name))
                   for f in dataclasses.fields(table) if getattr(table, f.name) is not None}
        return dataclasses.replace(table, **changes)

    # -- the recovery manager's side -----------------------------------------------------------
    def failed(self, domain, trigger: str, cause: str) -> None:
        """Nooks detected a failure: the domain's shadows go active (observer of detection)."""
        for name in domain.modules:
            shadow = self.shadows.get(name)
            if shadow is not None and self.wanted(name) and not shadow.active:
                shadow.active = True
                self.kernel.events.add("shadow", name, "active: requests go to the shadow")

    def may_recover(self, domain) -> bool:
        """The shadow recovery manager runs in the kernel, not as a user process: it may run
        inside a system call, once no thread is in the domain and not in an interrupt."""
        k = self.kernel
        return (domain.frames == 0 and k.cpu.in_interrupt == 0 and k.verdict is None
                and any(self.wanted(n) for n in domain.modules))

    def recover_now(self, extension: str) -> bool:
        """Run the pending recovery of ``extension`` now (an active-mode request waits for it);
        True if the driver is back."""
        recovery = self.manager.recovery
        for domain, _, _ in list(recovery.pending.values()):
            if extension in domain.modules and self.may_recover(domain):
                recovery._run_pending(domain)
        shadow = self.shadows.get(extension)
        return shadow is not None and not shadow.active

    def before_reload(self, extension: str) -> None:
        """The new driver's taps pass calls through (passive) from its init on; the old
        driver's ops tables are gone by now."""
        shadow = self.shadows.get(extension)
        if shadow is not None:
            shadow.active = False
            self.kernel.events.add("shadow", extension, "passive (driver reloading)")

    def restore(self, extension: str, record, step) -> bool:
        """After the reload: restore the shadow's state into the new driver."""
        shadow = self.shadows.get(extension)
        if shadow is None:
            step("shadow restore", "no shadow for this driver's class: a plain restart")
            return True
        ok = shadow.restore(step)
        shadow.restores += 1
        return ok

    def give_up(self, extension: str) -> None:
        """The policy gave up (restart limit): the shadow stops standing in."""
        shadow = self.shadows.get(extension)
        if shadow is not None:
            shadow.active = False

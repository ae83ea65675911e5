"""Nooks: lightweight kernel protection domains for unmodified drivers (SOSP'03 section 4).

The layer has the paper's parts, one module each: :mod:`.domain` (protection domains and the page
tracker), :mod:`.xpc` (extension procedure call and deferred calls), :mod:`.interfaces` (the
kernel<->extension interfaces read from the kernel's declarative specs), :mod:`.wrappers` (kernel
and driver wrappers generated from them), :mod:`.tracker` (the object tracker) and
:mod:`.recovery` (recovery manager and user-mode agent); :mod:`.manager` ties them together.

``install(kernel)`` is called by the kernel at boot in the ``nooks`` configuration. Nooks guards
against *mistakes*, not malice (the paper's design principle 2): an extension that set out to
subvert it could (a C one by reloading CR3; ours by reaching host objects). Driver code is given
no name bound to the MMU or the layer: only wrappers lead out of a domain.
"""
from .manager import IsolationManager, install
from .recovery import Agent, Recovery, RecoveryStep
from .domain import ProtectionDomain
from .hooks import NooksHooks
from .tracker import ObjectTracker, TrackedObject, TrackedType

__all__ = ["Agent", "IsolationManager", "NooksHooks", "ObjectTracker", "ProtectionDomain", "Recovery",
           "RecoveryStep", "TrackedObject", "TrackedType", "install"]

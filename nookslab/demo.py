"""``nookslab reproduce demo``: boot a kernel, load the example driver, run it, print the trace."""
from __future__ import annotations


def main(seed: int = 0) -> int:
    from . import boot
    kernel = boot(mode="native", seed=seed)
    module = kernel.load("null")
    print(f"booted {kernel.mode} kernel, seed {seed}; loaded null: {module.state}")
    print(f"imports ({len(module.imports)}): {', '.join(module.imports)}")
    result = kernel.run("null-io", seconds=0.01)
    print(result)
    unloaded = kernel.unload("null")
    print(f"unloaded null; leaked: {unloaded.leaks or 'nothing'}")
    print("trace:")
    for event in kernel.events:
        print(f"  {event}")
    return 0 if result.ok and not unloaded.leaks else 1

"""A trial's outcome told as a story: where each fault landed, what caught it, what recovery did,
whether the workload resumed. Read from the :class:`~nookslab.faults.TrialResult` and the kernel
the trial ran on; plain text and HTML, no widgets.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

_CAUGHT = ("oops", "check", "panic", "hang")
_HOOK = re.compile(r"_nl_fault_\w+")
#: colour of each verdict word
VERDICT_COLOURS = {"no failure": "#2e7d32", "recovered": "#1565c0", "crash": "#c62828",
                   "non-fatal failure": "#ef6c00", "fault never ran": "#6d6d6d"}


@dataclass
class Story:
    """The story of one trial in one configuration.

    ``verdict`` is the one-word class the panel shows first: ``"no failure"``, ``"fault never
    ran"``, ``"recovered"``, ``"crash"``, ``"non-fatal failure"``, ``"simulator limit"``,
    ``"simulator-error"`` or ``"error"``; ``headline`` the sentence after it.
    ``landed``: one readable line per fault (the panel shows the fault list once, above).
    """

    mode: str
    verdict: str
    headline: str
    landed: list[str] = field(default_factory=list)
    caught: list[str] = field(default_factory=list)
    recovery: list[str] = field(default_factory=list)
    afterwards: str = ""

    @property
    def text(self) -> str:
        lines = [f"[{self.mode}] {self.verdict}: {self.headline}"]
        for title, items in (("where the faults landed", self.landed),
                             ("what caught it", self.caught), ("what recovery did", self.recovery)):
            if items:
                lines.append(f"  {title}:")
                lines.extend(f"    {item}" for item in items)
        if self.afterwards:
            lines.append(f"  workload afterwards: {self.afterwards}")
        return "\n".join(lines)

    def html(self, faults: bool = True) -> str:
        """The story as HTML; ``faults=False`` leaves out where the faults landed (the panel
        lists them once for every configuration)."""
        colour = VERDICT_COLOURS.get(self.verdict, "#555")
        parts = [f"<div class='nookslab-story' data-mode='{html.escape(self.mode)}' "
                 f"data-verdict='{html.escape(self.verdict)}' style='line-height:1.4;"
                 f"overflow-wrap:anywhere'>",
                 f"<div class='nookslab-outcome' style='font-size:1.1em'><b>"
                 f"{html.escape(self.mode)}</b>: <b style='color:{colour}'>"
                 f"{html.escape(self.verdict)}</b> &mdash; {html.escape(self.headline)}</div>"]
        sections = (("Where the faults landed", self.landed if faults else []),
                    ("What caught it", self.caught), ("What recovery did", self.recovery))
        for title, items in sections:
            if items:
                lis = "".join(f"<li>{html.escape(i)}</li>" for i in items)
                parts.append(f"<div><i>{title}</i><ol style='margin:0'>{lis}</ol></div>")
        if self.afterwards:
            parts.append(f"<div><i>Workload afterwards</i>: {html.escape(self.afterwards)}</div>")
        parts.append("</div>")
        return "".join(parts)


def _ms(kernel, cycles: int) -> str:
    return f"t={cycles / kernel.clock.hz * 1e3:.3f} ms"


def where_landed(extension: str, faults) -> list[str]:
    """One line per fault: its type and site, what it does, the statement before and after."""
    from ..faults.describe import describe_in
    out = []
    for fault in faults:
        change = describe_in(extension, fault)
        line = f"{change.title}: {change.what}"
        if change.before or change.after:
            line += f": {change.before}  =>  {change.after}"
        out.append(line)
    return out


def _readable(text: str, faults) -> str:
    """``text`` with the injector's names for faults (hook names, ``str(fault)`` with its raw
    parameters) replaced by the faults' titles."""
    from ..faults.describe import title
    for fault in faults:
        text = text.replace(str(fault), title(fault))
        hook = getattr(fault, "hook", None)
        if hook:
            text = text.replace(hook, f"the {fault.type} fault")
    return _HOOK.sub("a fault", text)


def tell(result, kernel=None) -> Story:
    """The :class:`Story` of ``result`` (and of ``kernel``, the one it ran on, if known)."""
    faults = tuple(result.faults)
    landed = where_landed(result.extension, faults)
    cause = _readable(result.cause or "", faults)
    if result.error:
        return Story(result.mode, "error", f"the simulator failed: {result.error}", landed)
    if result.outcome == "simulator-limit":
        # a host bound (memory, a dead worker): the run stopped, the driver is not judged
        return Story(result.mode, "simulator limit",
                     f"the run stopped at a bound of the simulator, not of the simulated "
                     f"machine: {result.cause}", landed,
                     afterwards="the run was stopped there (a simulator limit, not a crash)")
    if result.outcome not in ("crash", "nonfatal", "none"):
        # the simulator's own failure (a bug of ours): not a driver failure
        return Story(result.mode, result.outcome, f"not counted as a failure of the driver: "
                                                  f"{cause or result.outcome}", landed)
    never = result.activated == 0 and bool(faults)
    if result.outcome == "crash":
        kind = "hung" if result.verdict == "hang" else "panicked"
        verdict, headline = "crash", f"the system {kind}: {cause}"
    elif result.outcome == "nonfatal":
        verdict = "non-fatal failure"
        headline = f"the system survived but {result.extension} failed: {cause}"
        if result.recovered:
            headline += " (Nooks recovered it, but the service did not come back)"
    elif result.recovered:
        verdict = "recovered"
        headline = (f"Nooks caught the failure in {result.extension}, recovered it, and the "
                    f"workload resumed")
    elif not faults:
        verdict, headline = "no failure", (f"no fault injected; {result.workload or 'the workload'}"
                                           f" ran normally")
    elif never:
        verdict = "fault never ran"
        headline = (f"the workload never reached the faulty code ({len(faults)} fault(s) "
                    f"injected, none ran): this trial tested nothing. Try the next seed or "
                    f"another fault type")
    else:
        verdict = "no failure"
        headline = f"{result.activated} of {len(faults)} fault(s) ran and did no observable harm"
        if result.activated < len(faults):
            headline += f"; {len(faults) - result.activated} never ran"
    story = Story(result.mode, verdict, headline, landed)
    if kernel is not None:
        for e in kernel.events:
            detection = e.kind == "fault" and "activated" not in e.detail \
                and not any(e.detail.startswith(str(f)) for f in faults)
            if e.kind in _CAUGHT or detection:
                what = "Nooks detected" if detection else e.kind
                story.caught.append(_readable(f"{_ms(kernel, e.time)} {what} ({e.subject}): "
                                              f"{e.detail}", faults))
            if len(story.caught) >= 6:
                break
        for record in getattr(kernel, "recoveries", []):
            policy = getattr(record, "policy", "?")
            done = ("disabled" if policy == "disable" else "ok") if record.ok else "FAILED"
            story.recovery.append(f"recovery of {record.extension} "
                                  f"({record.trigger}), policy {policy}: {done}")
            story.recovery.extend(f"{_ms(kernel, s.time)} {s.name}: {s.detail}"
                                  for s in record.steps)
    if result.verdict is None:
        story.afterwards = ("the workload ran again and worked" if result.followup_failure is None
                            else f"the workload fails: "
                                 f"{_readable(result.followup_failure, faults)}")
    else:
        story.afterwards = "nothing runs: the system is dead"
    return story


def unavailable(mode: str, why: str) -> Story:
    """A story that says why a configuration could not run (a part not built yet)."""
    return Story(mode, "unavailable", why)

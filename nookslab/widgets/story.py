"""A trial's outcome told as a story: where each fault landed, what caught it, what recovery did,
whether the workload resumed. Read from the :class:`~nookslab.faults.TrialResult` and the kernel
the trial ran on; plain text and HTML, no widgets.
"""
from __future__ import annotations

import ast
import html
from dataclasses import dataclass, field
from functools import lru_cache

_CAUGHT = ("oops", "check", "panic", "hang")


@dataclass
class Story:
    """The story of one trial in one configuration.

    ``verdict`` is the one-word class the panel shows first: ``"no failure"``, ``"recovered"``,
    ``"crash"``, ``"non-fatal failure"``, ``"simulator limit"`` or ``"error"``; ``headline`` the
    sentence after it.
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

    def html(self) -> str:
        colour = {"no failure": "#2e7d32", "recovered": "#1565c0", "crash": "#c62828",
                  "non-fatal failure": "#ef6c00"}.get(self.verdict, "#555")
        parts = [f"<div class='nookslab-story' data-mode='{self.mode}' "
                 f"data-verdict='{self.verdict}'>",
                 f"<div class='nookslab-outcome' style='font-size:1.1em'><b>{self.mode}</b>: "
                 f"<b style='color:{colour}'>{html.escape(self.verdict)}</b> &mdash; "
                 f"{html.escape(self.headline)}</div>"]
        for title, items in (("Where the faults landed", self.landed),
                             ("What caught it", self.caught), ("What recovery did", self.recovery)):
            if items:
                lis = "".join(f"<li><code>{html.escape(i)}</code></li>" for i in items)
                parts.append(f"<div><i>{title}</i><ol style='margin:0'>{lis}</ol></div>")
        if self.afterwards:
            parts.append(f"<div><i>Workload afterwards</i>: {html.escape(self.afterwards)}</div>")
        parts.append("</div>")
        return "".join(parts)


def _ms(kernel, cycles: int) -> str:
    return f"t={cycles / kernel.clock.hz * 1e3:.3f} ms"


@lru_cache(maxsize=16)
def _functions(extension: str) -> tuple[tuple[str, ...], tuple[tuple[int, int], ...]]:
    """The driver's source lines and the (first, last) line of each top-level function."""
    from ..drivers import REGISTRY
    from ..kernel.module import driver_source
    try:
        source = driver_source(REGISTRY[extension].source)
    except (KeyError, ValueError):
        return (), ()
    spans = []
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            spans.append((first, node.end_lineno))
    return tuple(source.splitlines()), tuple(spans)


@lru_cache(maxsize=512)
def _landed(extension: str, fault) -> str:
    """One fault's line. Only the function holding the site is parsed (padded with blank lines
    so line numbers stay right): a whole driver's syntax tree costs ~0.1 s for VFAT."""
    from ..faults.story import before_after
    lines, spans = _functions(extension)
    span = next(((a, b) for a, b in spans if a <= fault.line <= b), None)
    before = after = ""
    if span is not None and fault.function:
        padded = "\n" * (span[0] - 1) + "\n".join(lines[span[0] - 1:span[1]]) + "\n"
        try:
            before, after = before_after(fault, padded)
        except Exception:                    # noqa: BLE001 - a story must never fail
            before, after = "", ""
    if before or after:
        return f"{fault.type} in {fault.function}, line {fault.line}: {before}  =>  {after}"
    return str(fault)


def where_landed(extension: str, faults) -> list[str]:
    """One line per fault: the type, the function and line, the source before and after."""
    return [_landed(extension, fault) for fault in faults]


def tell(result, kernel=None) -> Story:
    """The :class:`Story` of ``result`` (and of ``kernel``, the one it ran on, if known)."""
    faults = tuple(result.faults)
    landed = where_landed(result.extension, faults)
    if result.error:
        return Story(result.mode, "error", f"the simulator failed: {result.error}", landed)
    if result.outcome == "crash":
        kind = "hung" if result.verdict == "hang" else "panicked"
        verdict, headline = "crash", f"the system {kind}: {result.cause}"
    elif result.outcome == "simulator-limit":
        verdict, headline = "simulator limit", (f"the run stopped at a bound of the simulator, "
                                                f"not of the simulated machine: {result.cause}")
    elif result.outcome == "nonfatal":
        verdict = "non-fatal failure"
        headline = (f"the system survived but {result.extension} failed: {result.cause}")
        if result.recovered:
            headline += " (Nooks recovered it, but the service did not come back)"
    elif result.recovered:
        verdict = "recovered"
        headline = (f"Nooks caught the failure in {result.extension}, recovered it, and the "
                    f"workload resumed")
    elif not faults:
        verdict, headline = "no failure", (f"no fault injected; {result.workload or 'the workload'}"
                                           f" ran normally")
    else:
        verdict = "no failure"
        headline = (f"{result.activated} of {len(faults)} fault(s) ran and did no observable harm")
    story = Story(result.mode, verdict, headline, landed)
    if kernel is not None:
        for e in kernel.events:
            detection = e.kind == "fault" and "activated" not in e.detail
            if e.kind in _CAUGHT or detection:
                what = "Nooks detected" if detection else e.kind
                story.caught.append(f"{_ms(kernel, e.time)} {what} ({e.subject}): {e.detail}")
            if len(story.caught) >= 6:
                break
        for record in getattr(kernel, "recoveries", []):
            story.recovery.append(f"recovery of {record.extension} "
                                  f"({record.trigger}), policy {record.policy}: "
                                  f"{'ok' if record.ok else 'FAILED'}")
            story.recovery.extend(f"{_ms(kernel, s.time)} {s.name}: {s.detail}"
                                  for s in record.steps)
    if result.verdict is None:
        story.afterwards = ("the workload ran again and worked" if result.followup_failure is None
                            else f"the workload fails: {result.followup_failure}")
    elif result.verdict == "limit":
        story.afterwards = "the run was stopped there (a simulator limit, not a crash)"
    else:
        story.afterwards = "nothing runs: the system is dead"
    return story


def unavailable(mode: str, why: str) -> Story:
    """A story that says why a configuration could not run (a part not built yet)."""
    return Story(mode, "unavailable", why)

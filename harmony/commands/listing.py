"""`harmony list [generators|methods|metrics|protocols]`: every registry's cards."""

from __future__ import annotations

import click

KINDS = ("generators", "methods", "metrics", "protocols")


@click.command("list")
@click.argument("kind", required=False, type=click.Choice(KINDS + ("all",)), default="all")
@click.option("--json", "as_json", is_flag=True, help="Print the cards as JSON.")
@click.option("--verbose", "-v", is_flag=True, help="Show every card field (notes, inputs, weights ...).")
def list_cmd(kind, as_json, verbose):
    """List generators, methods (incl. plugins), metrics or protocols with their cards.

    \b
    Examples:
      harmony list                 # everything
      harmony list methods         # baselines, learned models (and their checkpoint needs), plugins
      harmony list protocols       # how each metric protocol resizes, masks and scores
      harmony list metrics --json
    """
    from ..registry import GENERATORS, METHODS, METRICS, PROTOCOLS

    registries = {"generators": GENERATORS, "methods": METHODS, "metrics": METRICS, "protocols": PROTOCOLS}
    kinds = KINDS if kind == "all" else (kind,)
    if as_json:
        import json

        click.echo(json.dumps({k: [c.as_dict() for c in registries[k].cards()] for k in kinds}, indent=2,
                              default=str))
        return
    for k in kinds:
        cards = registries[k].cards()
        click.echo(f"== {k} ({len(cards)})")
        for c in cards:
            click.echo(_line(k, c))
            if k == "protocols":
                for line in c.notes.splitlines()[1:]:
                    click.echo(f"      {line.strip()}")
            elif verbose:
                for field in ("paper", "inputs", "presets", "weights", "native_size", "notes"):
                    v = getattr(c, field)
                    if v:
                        click.echo(f"      {field}: {v}")
        click.echo("")


def _line(kind: str, c) -> str:
    tags = []
    if kind == "methods":
        tags.append("learned" if c.learned else "classical")
        if c.keeps_background:
            tags.append("keeps background")
        if c.low_res_only:
            tags.append(f"low-res only ({c.native_size or 256})")
        if not c.deterministic:
            tags.append("random")
        if c.inputs:
            tags.append("needs " + "+".join(c.inputs))
    elif kind == "metrics":
        if c.higher_is_better is not None:
            tags.append("higher is better" if c.higher_is_better else "lower is better")
        if c.unit:
            tags.append(c.unit)
    elif kind == "protocols":
        size = c.extra.get("default_size") if c.extra else None
        tags.append(f"default size {size or 'full'}")
    tag = f" [{', '.join(tags)}]" if tags else ""
    return f"  {c.name:18s} {c.summary}{tag}"

"""`harmony list [generators|methods|metrics|protocols]`: every registry's cards.

The text and JSON come from :func:`harmony.registry.card_listing` and
:func:`harmony.registry.cards_as_dicts`; this module holds the options.
"""

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
    import json

    from ..registry import card_listing, cards_as_dicts

    kinds = KINDS if kind == "all" else (kind,)
    if as_json:
        click.echo(json.dumps(cards_as_dicts(kinds), indent=2, default=str))
        return
    for line in card_listing(kinds, verbose=verbose):
        click.echo(line)

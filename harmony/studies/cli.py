"""Click commands for ``harmony study list`` and ``harmony study NAME`` (one command per registered study).

The commands are listed in :data:`harmony.commands.study.STUDY_COMMANDS` as ``harmony.studies.cli:<attr>``;
each is built from the study's declarative record by :func:`make_command`.
"""

from __future__ import annotations

import click

from ..cli import UserError
from ..errors import InputError
from . import SCALES, get_study, list_studies, parse_overrides, run_study


@click.command("list")
def list_cmd():
    """List every study: paper, table, what it measures, scales and time at tiny.

    \b
    Examples:
      harmony study list
      harmony study study-power --scale tiny --out runs/power
    """
    for study in list_studies():
        tiny = study.scales.get("tiny")
        click.echo(f"{study.name}")
        click.echo(f"  paper:    {study.paper}")
        click.echo(f"  table:    {study.table}")
        click.echo(f"  measures: {study.measures}")
        scales = []
        for name in SCALES:
            if name in study.scales:
                scale = study.scales[name]
                needs = []
                if scale.needs_data:
                    needs.append("real data")
                if scale.needs_gpu:
                    needs.append("GPU")
                scales.append(name + (f" (needs {' + '.join(needs)})" if needs else ""))
        click.echo(f"  scales:   {', '.join(scales)}")
        click.echo(f"  tiny:     about {tiny.est_time if tiny else '?'} on 2 CPU cores")
        click.echo("")


def make_command(name: str) -> click.Command:
    """Build the ``harmony study NAME`` command of one registered study.

    Its help text is made from the study's record (paper, table, scales, settings); the command runs
    :func:`harmony.studies.run_study` and prints the table and the verdict of each of the paper's
    conclusions.

    Parameters
    ----------
    name : str
        A registered study.

    Returns
    -------
    click.Command
        The command (``--scale``, ``--out``, ``--seed``, ``--data``, ``--set``, ``--workers``,
        ``--overwrite``, ``--quiet``).

    Raises
    ------
    InputError
        When no study has that name.
    """
    study = get_study(name)
    scale_lines = "\n".join(f"  {s}: {scale.summary}" + (f" Needs {scale.needs_data}." if scale.needs_data else "")
                            + (" Needs a CUDA GPU." if scale.needs_gpu else "") for s, scale in study.scales.items())
    tiny_settings = dict(study.scales.get("tiny", next(iter(study.scales.values()))).settings)
    help_text = (f"{study.paper}, {study.table}: {study.measures}.\n\n"
                 f"Writes DIR/table.md, table.csv, plot.png, study.json and README.md (our numbers beside the "
                 f"paper's, and which conclusions hold at this scale). Intermediate data, checkpoints and bench "
                 f"caches go to DIR/work and are reused when the same run is repeated.\n\n"
                 f"\b\nScales:\n{scale_lines}\n\n"
                 f"\b\nSettings (--set KEY=VALUE): {', '.join(sorted(tiny_settings))}\n\n"
                 f"\b\nExamples:\n  harmony study {name} --scale tiny --out runs/{name}\n"
                 f"  harmony study {name} --scale test --seed 1 --out /tmp/{name}\n"
                 + (f"  {study.notes}\n" if study.notes else ""))

    @click.command(name, help=help_text)
    @click.option("--scale", type=click.Choice(list(study.scales)), default="tiny", show_default=True,
                  help="Data sizes and training steps (paper: the paper's settings).")
    @click.option("--out", required=True, type=click.Path(file_okay=False), help="Output folder.")
    @click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
    @click.option("--data", type=click.Path(file_okay=False), default=None,
                  help="Real dataset root (needed by --scale paper where the study says so).")
    @click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override one scale setting.")
    @click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True,
                  help="Worker processes for data generation and benchmarking (0 = inline).")
    @click.option("--overwrite", is_flag=True, help="Replace another run's files in --out.")
    @click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
    def command(scale, out, seed, data, overrides, workers, overwrite, quiet):
        import sys

        try:
            chosen = study.scale(scale)
            if chosen.needs_data or chosen.needs_gpu:
                click.echo(f"scale {scale} needs " + " and ".join(
                    ([chosen.needs_data] if chosen.needs_data else []) + (["a CUDA GPU"] if chosen.needs_gpu else [])),
                    err=True)
            settings = parse_overrides(overrides, chosen.settings)
            result = run_study(name, scale, out, seed=seed, data=data, overrides=settings, workers=workers,
                               progress=not quiet and sys.stderr.isatty(), overwrite=overwrite)
        except InputError as exc:
            raise UserError(str(exc).splitlines()[0]) from None
        click.echo(f"\n== study {name} ({scale}, seed {seed})")
        click.echo(result.output.table.to_string(index=False, max_colwidth=40))
        for c in result.output.conclusions:
            click.echo(f"- {c.claim}: {c.verdict} ({c.ours})")
        if result.output.missing:
            click.echo(f"not run: {len(result.output.missing)} part(s), listed in {result.out / 'README.md'}")
        click.echo(f"written: {', '.join(result.files)} ({result.seconds:.1f} s)")

    return command


def __getattr__(attr: str):
    """The command of study ``attr`` (``_`` for ``-``), built on first access (``harmony.studies.cli:fg_ratio``)."""
    name = attr.replace("_", "-")
    try:
        return make_command(name)
    except InputError:
        raise AttributeError(attr) from None

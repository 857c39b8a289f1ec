"""The `harmony` command line.

Every command is thin: parse options, call one library function, print a summary. Commands live in
``harmony/commands/<name>.py`` and are imported only when invoked (so ``harmony --help`` does not import
torch or dask). Expected bad input (:class:`harmony.errors.InputError`, missing files) becomes one line
``Error: ...`` and exit code 2, never a traceback.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import signal
import sys

import click

from . import __version__
from .errors import InputError


class UserError(click.ClickException):
    """A ClickException with the exit code the toolkit uses for bad input (2)."""

    exit_code = 2


class LazyGroup(click.Group):
    """A click group whose subcommands are ``module:attr`` strings imported on first use.

    Commands whose module is not present are not listed (so a partially built toolkit never shows a
    command that cannot run).
    """

    def __init__(self, *args, lazy_commands: dict[str, tuple[str, str]] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands or {})

    def _available(self, name: str) -> bool:
        spec = self.lazy_commands[name][0].rsplit(":", 1)[0]
        return importlib.util.find_spec(spec) is not None

    def list_commands(self, ctx):
        names = set(super().list_commands(ctx))
        names |= {n for n in self.lazy_commands if self._available(n)}
        return sorted(names)

    def get_command(self, ctx, cmd_name):
        if cmd_name in self.lazy_commands and self._available(cmd_name):
            target, _help = self.lazy_commands[cmd_name]
            module_name, attr = target.rsplit(":", 1)
            return getattr(importlib.import_module(module_name), attr)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx, formatter):
        # Use the short help registered here so listing commands imports nothing heavy.
        rows = []
        for name in self.list_commands(ctx):
            if name in self.lazy_commands:
                rows.append((name, self.lazy_commands[name][1]))
            else:
                cmd = super().get_command(ctx, name)
                if cmd is not None and not cmd.hidden:
                    rows.append((name, cmd.get_short_help_str(limit=70)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


COMMANDS = {
    "datagen": ("harmony.commands.datagen:datagen", "Build datasets in the iHarmony4 layout (coco, flickr, fivek, ...)."),
    "samples": ("harmony.commands.samples:samples", "Write the embedded sample data out for inspection."),
    "check": ("harmony.commands.check:check", "Validate a dataset in the iHarmony4 layout."),
    "bench": ("harmony.commands.bench:bench", "Benchmark methods on a dataset under a metric protocol."),
    "bt-score": ("harmony.commands.bt_score:bt_score", "Bradley-Terry scores of pairwise user-study votes."),
    "study": ("harmony.commands.study:study", "User-study task lists and the papers' experiments."),
    "train": ("harmony.commands.train:train", "Train a learned harmonization model."),
    "harmonize": ("harmony.commands.harmonize:harmonize", "Harmonize one image or a folder with any method."),
    "apply-params": ("harmony.commands.apply_params:apply_params", "Re-apply exported SPRIH curves + shading."),
    "inharmony": ("harmony.commands.inharmony:inharmony", "BargainNet inharmony score of composites."),
    "render": ("harmony.commands.render:render", "Render scenes in the 10 capture styles (Mitsuba 3)."),
    "list": ("harmony.commands.listing:list_cmd", "List generators, methods, metrics or protocols."),
}


@click.group(cls=LazyGroup, lazy_commands=COMMANDS,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="harmony")
def cli():
    """harmony: image-harmonization datasets, benchmarks and user-study scores.

    \b
    Examples:
      harmony datagen coco --out data/          # colour-transfer composites from the sample data
      harmony check data/                       # validate an iHarmony4-layout dataset
      harmony bench --data data/ --models all --out bench/
      harmony bt-score votes.csv --out scores/
    """


def _stop_signal(signum, _frame):
    # Ctrl-C, a batch scheduler's time limit or a plain `kill`: one clean message and exit 130/143
    # (parallel.map_units installs its own handler during a run, which adds the units done).
    from .parallel import Interrupted

    raise Interrupted(signum)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: runs the group and turns expected bad input into exit code 2."""
    from .parallel import Interrupted

    try:
        old = {s: signal.signal(s, _stop_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread (embedded use)
        old = {}
    try:
        cli.main(args=argv, prog_name="harmony", standalone_mode=False)
    except Interrupted as exc:
        click.echo(f"\n{exc.message()}", err=True)
        if argv is None:
            # The console command: workers are gone and files closed; skip the interpreter's teardown,
            # which takes seconds after a train2017-size plan (millions of objects to free), so that no
            # process of the run outlives a scheduler's grace period.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(exc.exit_code)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2 if exc.exit_code == 1 else exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except (InputError, FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        click.echo(f"Error: {msg}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("\nInterrupted: finished items are kept; re-run the same command to resume.", err=True)
        sys.exit(130)
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


if __name__ == "__main__":  # pragma: no cover
    main()

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

try:
    from . import DISTRIBUTION, __version__
except ImportError:  # another package's harmony/__init__.py replaced ours (tests/test_packaging.py)
    sys.stderr.write(
        "Error: the module 'harmony' imported here is not harmony-toolkit's (another package installed "
        "files into the same 'harmony' folder). Fix: pip uninstall harmony-toolkit, uninstall the other "
        "package (see `pip show -f harmony`), then pip install harmony-toolkit; or use separate venvs.\n")
    raise SystemExit(2) from None
from .errors import InputError, Interrupted


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
        """Names of the commands: those added to the group and the lazy ones whose module exists.

        Parameters
        ----------
        ctx : click.Context
            The invocation's context.

        Returns
        -------
        list of str
            Sorted.
        """
        names = set(super().list_commands(ctx))
        names |= {n for n in self.lazy_commands if self._available(n)}
        return sorted(names)

    def get_command(self, ctx, cmd_name):
        """The command called ``cmd_name``, importing its module on first use.

        Parameters
        ----------
        ctx : click.Context
            The invocation's context.
        cmd_name : str
            The command's name.

        Returns
        -------
        click.Command or None
            None for an unknown name (click then says so).
        """
        if cmd_name in self.lazy_commands and self._available(cmd_name):
            target, _help = self.lazy_commands[cmd_name]
            module_name, attr = target.rsplit(":", 1)
            return getattr(importlib.import_module(module_name), attr)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx, formatter):
        # Use the short help registered here so listing commands imports nothing heavy.
        """The "Commands" section of ``--help``, from the short help registered here (imports nothing heavy).

        Parameters
        ----------
        ctx : click.Context
            The invocation's context.
        formatter : click.HelpFormatter
            Where the section is written.
        """
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
    "prepare": ("harmony.commands.prepare:prepare", "Pre-resize a dataset into a uint8 training cache."),
    "harmonize": ("harmony.commands.harmonize:harmonize", "Harmonize one image or a folder with any method."),
    "apply-params": ("harmony.commands.apply_params:apply_params", "Re-apply exported SPRIH curves + shading."),
    "inharmony": ("harmony.commands.inharmony:inharmony", "BargainNet inharmony score of composites."),
    "render": ("harmony.commands.render:render", "Render scenes in the 10 capture styles (Mitsuba 3)."),
    "list": ("harmony.commands.listing:list_cmd", "List generators, methods, metrics or protocols."),
}


# --- `harmony --version` -------------------------------------------------------------------------
# Versions come from importlib.metadata: nothing heavy (torch, cv2) is imported to print them.

#: (label, distributions that provide it) for `harmony --version`; OpenCV has four wheels on PyPI.
VERSION_REPORT = (
    ("torch", ("torch",)),
    ("numpy", ("numpy",)),
    ("opencv", ("opencv-python-headless", "opencv-python", "opencv-contrib-python-headless",
                "opencv-contrib-python")),
    ("choix", ("choix",)),
)


def _dist_version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def version_lines() -> list[str]:
    """The lines ``harmony --version`` prints: this toolkit, then torch, numpy, OpenCV and choix.

    Versions come from ``importlib.metadata`` (nothing heavy is imported).

    Returns
    -------
    list of str
        ``<name> <version>``, or ``<name> not installed``; OpenCV names every installed wheel of its four.
    """
    import os
    import platform

    here = os.path.dirname(os.path.abspath(__file__))
    lines = [f"{DISTRIBUTION} {__version__} (python {platform.python_version()}, {here})"]
    for label, dists in VERSION_REPORT:
        found = [(d, v) for d in dists if (v := _dist_version(d)) is not None]
        if not found:
            lines.append(f"{label} not installed")
        elif len(dists) == 1:
            lines.append(f"{label} {found[0][1]}")
        else:
            lines.append(f"{label} " + ", ".join(f"{v} ({d})" for d, v in found))
    return lines


def name_clashes() -> list[str]:
    """Problems with the name ``harmony`` in this environment, one line each (empty when none).

    - another distribution ships files in the ``harmony`` import package (the two overwrite each other);
    - a distribution called ``harmony`` is installed (on PyPI that name is the Harmony model checker,
      whose ``harmony`` command has the same name as ours; or this toolkit's own former name);
    - the ``harmony`` command found on PATH does not run ``harmony.cli``.

    Returns
    -------
    list of str
        Printed as warnings by ``harmony --version``.
    """
    import shutil
    from importlib import metadata

    out = []
    try:
        other = metadata.distribution("harmony")
    except metadata.PackageNotFoundError:
        other = None
    summary = (other.metadata.get("Summary") or "") if other is not None else ""
    former = summary.startswith("Image-harmonization research toolkit")  # this toolkit before 0.2
    owners = sorted(set(metadata.packages_distributions().get("harmony", [])))
    others = [d for d in owners if d.lower().replace("_", "-") not in (DISTRIBUTION, "harmony" if former else "")]
    if others:
        out.append(f"import clash: {', '.join(others)} also install(s) files into the 'harmony' package; "
                   "the packages overwrite each other: keep them in separate environments")
    if other is not None:
        if former:
            out.append(f"this toolkit's former distribution 'harmony' {other.version} is still installed "
                       "(same files, same command): pip uninstall harmony, then reinstall harmony-toolkit")
        else:
            out.append(f"the distribution 'harmony' {other.version} ({summary or 'no summary'}) is installed "
                       "too; its `harmony` command and ours share a name (the last installed wins); "
                       "`python -m harmony` always runs this toolkit")
    exe = shutil.which("harmony")
    if exe:
        try:
            with open(exe, "rb") as fh:
                head = fh.read(4096)
        except OSError:
            head = b""
        if b"harmony_model_checker" in head or (head.startswith(b"#!") and b"harmony.cli" not in head):
            out.append(f"the `harmony` command on PATH ({exe}) is not this toolkit's; "
                       "`python -m harmony` always runs this toolkit")
    return out


def _print_version(ctx: click.Context, _param, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    for line in version_lines():
        click.echo(line)
    for line in name_clashes():
        click.echo(f"warning: {line}", err=True)
    ctx.exit(0)


@click.group(cls=LazyGroup, lazy_commands=COMMANDS,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Show the version of harmony-toolkit, torch, numpy, OpenCV and choix, and exit.")
def cli():
    """harmony: image-harmonization datasets, benchmarks and user-study scores.

    \b
    Examples:
      harmony datagen coco --out data/          # colour-transfer composites from the sample data
      harmony check data/                       # validate an iHarmony4-layout dataset
      harmony bench --data data/ --models all --out bench/
      harmony bt-score votes.csv --out scores/
    """
    _process_setup()


def _process_setup() -> None:
    """Process-wide settings of the command line (never done at import time by the library): one OpenCV
    thread per process, since harmony parallelises across work units (worker processes get the same in
    :func:`harmony.parallel._init_worker`)."""
    try:
        import cv2

        cv2.setNumThreads(1)
    except Exception:  # pragma: no cover - OpenCV missing: nothing to cap
        pass


def _stop_signal(signum, _frame):
    # Ctrl-C, a batch scheduler's time limit or a plain `kill`: one clean message and exit 130/143
    # (parallel.map_units installs its own handler during a run, which adds the units done).
    raise Interrupted(signum)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: runs the group and turns expected bad input into exit code 2.

    ``InputError``, a missing file and click's usage errors print one ``Error: ...`` line and exit 2;
    SIGINT/SIGTERM print how many units were done and exit 130/143 (128 + the signal number).

    Parameters
    ----------
    argv : list of str or None
        Arguments after the program name (None: ``sys.argv[1:]``, the console command; the process then
        ends with ``os._exit`` after an interruption, skipping the interpreter's slow teardown).
    """
    try:
        previous_handlers = {signum: signal.signal(signum, _stop_signal) for signum in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread (embedded use)
        previous_handlers = {}
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
        for signum, handler in previous_handlers.items():
            signal.signal(signum, handler)


if __name__ == "__main__":  # pragma: no cover
    main()

"""Harmonize composites with any registered method: one image, or a folder of them.

The steps, each a function of its own, are the ones ``harmony harmonize`` runs:

1. :func:`load_method` resolves a method name (or a ``module:attr`` plugin spec) and builds it, with
   its checkpoint when the method is learned;
2. :func:`plan_jobs` matches composites to masks (:func:`find_mask`: same stem, or the iHarmony4 name
   rule) and names every output;
3. :func:`run_jobs` harmonizes each job under the error policy of long runs: an existing output is
   kept unless ``overwrite``; a job without a mask, with a mask of another size or an unreadable file is
   counted and listed, and the run goes on (a single job raises instead, so one image fails loudly);
4. :meth:`HarmonizeSummary.lines` summarises what was written, kept and failed.

:func:`harmonize_paths` chains the four.

References
----------
.. [1] W. Cong, J. Zhang, L. Niu, L. Liu, Z. Ling, W. Li, L. Zhang, "DoveNet: Deep Image Harmonization
   via Domain Verification", CVPR 2020: the iHarmony4 naming rule (mask = composite name minus
   ``_<k>``), https://github.com/bcmi/Image-Harmonization-Dataset-iHarmony4
.. [2] W. Cong, L. Niu, J. Zhang, J. Liang, L. Zhang, "BargainNet: Background-Guided Domain
   Translation for Image Harmonization", ICME 2021 (supplement section 6: background harmonization with
   the inverted mask).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import io as hio
from .errors import InputError, ItemError


@dataclass(frozen=True)
class HarmonizeJob:
    """One composite to harmonize: where it is, its mask, where the result goes.

    Parameters
    ----------
    composite : Path
        The composite image (any format :func:`harmony.io.read_image` reads).
    mask : Path or None
        Its foreground mask; None when no mask was found (the job then fails with "no mask").
    out : Path
        The output image; PNG or JPEG by its suffix.
    params_folder : str
        Sub-folder of ``export_params`` for this job's parameters: the composite's stem in folder
        mode, ``""`` for a single composite.
    mask_folder : Path or None
        The folder of masks searched (folder mode), named when no mask was found.
    """

    composite: Path
    mask: Path | None
    out: Path
    params_folder: str = ""
    mask_folder: Path | None = None


@dataclass
class HarmonizeSummary:
    """What a run did: the method, counts of written / kept / failed images, and the time taken.

    Parameters
    ----------
    method : str
        Registry name of the method.
    checkpoint : str or None
        The checkpoint a learned method loaded (None for classical methods).
    background : bool
        True when the background was harmonized to the foreground (inverted mask).
    out : Path
        The output image or folder.
    export_params : str or Path or None
        Where parametric methods write their parameters (printed as given).
    written, kept : int
        Images written, and outputs that existed and were kept (no ``overwrite``).
    failed : list of (str, str)
        ``(composite file name, one-line reason)`` of every job that failed.
    seconds : float
        Wall-clock time of the job loop, in seconds.
    """

    method: str
    checkpoint: str | None
    background: bool
    out: Path
    export_params: str | Path | None = None
    written: int = 0
    kept: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def lines(self, max_failures: int = 10) -> list[str]:
        """The summary ``harmony harmonize`` prints, one string per line.

        Parameters
        ----------
        max_failures : int
            How many failed images to list by name (all are counted).

        Returns
        -------
        list of str
            Method (and checkpoint), counts with the mean time per written image in milliseconds,
            the first ``max_failures`` failures, the output path and, with ``export_params``, where
            the parameters are.
        """
        head = f"method {self.method}"
        if self.checkpoint is not None:
            head += f" (checkpoint {self.checkpoint})"
        if self.background:
            head += " - background harmonization (inverted mask)"
        counts = f"written {self.written}, kept {self.kept} existing (use --overwrite), failed {len(self.failed)}"
        if self.written:
            counts += f"; {1000 * self.seconds / self.written:.0f} ms/image"
        lines = [head, counts]
        lines += [f"  failed {name}: {why}" for name, why in self.failed[:max_failures]]
        lines.append(f"output: {self.out}")
        if self.export_params is not None:
            lines.append(f"parameters: {self.export_params} (curves.json, curves.png, shading.png; "
                         "`harmony apply-params`)")
        return lines


def find_mask(composite: Path, mask_dir: Path) -> Path | None:
    """The mask of a composite in a folder of masks, or None when there is none.

    Tried in order: ``<stem>.png``, the composite's own file name, and the iHarmony4 rule
    (``<p><imageId>_<fgId>_<k>.jpg`` -> ``<p><imageId>_<fgId>.png``) [1]_.

    Parameters
    ----------
    composite : Path
        The composite image (only its name is used).
    mask_dir : Path
        Folder holding the masks.

    Returns
    -------
    Path or None
        The first candidate that is a file.

    References
    ----------
    .. [1] Cong et al., DoveNet, CVPR 2020; the iHarmony4 release,
       https://github.com/bcmi/Image-Harmonization-Dataset-iHarmony4

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "c100_7.png").write_bytes(b"")
    >>> find_mask(Path("c100_7_2.jpg"), folder).name
    'c100_7.png'
    >>> find_mask(Path("other.jpg"), folder) is None
    True
    """
    from .dataset import derive_mask_and_real

    candidates = [mask_dir / f"{composite.stem}.png", mask_dir / composite.name]
    try:
        candidates.append(mask_dir / derive_mask_and_real(composite.name)[0])
    except InputError:
        pass
    return next((c for c in candidates if c.is_file()), None)


def load_method(method: str, *, weights: str | Path | None = None, device: str = "cpu") -> tuple[str, Any, Any]:
    """Resolve a method name or plugin spec and build the method.

    Parameters
    ----------
    method : str
        A registered name (``harmony list methods``) or a ``package.module:attr`` spec.
    weights : str or Path or None
        Checkpoint folder, or a folder holding ``<method>/`` checkpoints; learned methods only
        (None: ``$HARMONY_CHECKPOINTS`` or ``./checkpoints``).
    device : str
        torch device of learned methods (``cpu``, ``cuda``, ``cuda:1`` ...).

    Returns
    -------
    name : str
        The registry name.
    card : harmony.registry.Card
        The method's card (``card.learned`` says whether a checkpoint was loaded).
    harmonizer : callable
        ``harmonizer(image, mask) -> image`` on the float32 contract (HxWx3 in [0, 1], HxW mask in [0, 1]).

    Raises
    ------
    InputError
        Unknown method, or a learned method without a usable checkpoint.
    """
    from .registry import METHODS

    name = METHODS.resolve_spec(method)
    card = METHODS.card(name)
    harmonizer = METHODS.create(name, weights=weights, device=device) if card.learned else METHODS.create(name)
    return name, card, harmonizer


def plan_jobs(composite: str | Path, mask: str | Path, out: str | Path) -> list[HarmonizeJob]:
    """Match composites to masks and name the outputs.

    A folder of composites needs a folder of masks; each composite's output is ``out/<stem>.png``.
    A single composite takes its mask from a file, or from a folder by :func:`find_mask`; its output
    is ``out`` itself.

    Parameters
    ----------
    composite : str or Path
        A composite image or a folder of composites.
    mask : str or Path
        A mask image or a folder of masks.
    out : str or Path
        The output image (single composite) or output folder (folder of composites).

    Returns
    -------
    list of HarmonizeJob
        One job per composite, in file-name order; a job's ``mask`` is None when none was found.

    Raises
    ------
    InputError
        A folder of composites with a mask file, a folder without images, or a single composite whose
        mask folder has no mask for it.
    """
    composite_path, mask_path, out_path = Path(composite), Path(mask), Path(out)
    if composite_path.is_dir():
        if not mask_path.is_dir():
            raise InputError(f"--mask {mask_path}: expected a folder of masks for a folder of composites")
        jobs = [HarmonizeJob(image, find_mask(image, mask_path), out_path / f"{image.stem}.png", image.stem,
                             mask_path) for image in hio.list_images(composite_path)]
        if not jobs:
            raise InputError(f"--composite {composite_path}: no images found")
        return jobs
    if mask_path.is_dir():
        found = find_mask(composite_path, mask_path)
        if found is None:
            raise InputError(f"--mask {mask_path}: no mask for {composite_path.name}")
        mask_path = found
    return [HarmonizeJob(composite_path, mask_path, out_path)]


def harmonize_job(harmonizer: Any, job: HarmonizeJob, *, background: bool = False,
                  export_params: Path | None = None, overwrite: bool = False) -> None:
    """Read one job's composite and mask, harmonize, write the result (and the parameters).

    Parameters
    ----------
    harmonizer : callable
        ``harmonizer(image, mask) -> image``; with ``export_params`` it must also have
        ``harmonize_with_params(image, mask) -> (image, params)`` (SPRIH).
    job : HarmonizeJob
        What to read and where to write.
    background : bool
        Harmonize the background to the foreground: the method runs with the inverted mask ``1 - mask``.
    export_params : Path or None
        Folder for the predicted parameters (``curves.json``, ``curves.png``, ``shading.png``), in
        ``export_params / job.params_folder``.
    overwrite : bool
        Replace exported parameters that exist.

    Raises
    ------
    ItemError
        The job has no mask.
    InputError
        An unreadable image or mask, a mask of another size than the composite, or exported
        parameters that exist without ``overwrite``.
    """
    if job.mask is None:
        raise ItemError("no mask", f"no mask for {job.composite.name} in {job.mask_folder}")
    image, mask = hio.read_image(job.composite), hio.read_mask(job.mask)
    if image.shape[:2] != mask.shape:
        raise InputError(f"{job.mask}: mask is {mask.shape[1]}x{mask.shape[0]}, composite {job.composite.name} is "
                         f"{image.shape[1]}x{image.shape[0]}")
    if background:
        mask = (1.0 - mask).astype(np.float32)
    if export_params is not None:
        from .models.params_folder import write_params

        result, params = harmonizer.harmonize_with_params(image, mask)
        write_params(export_params / job.params_folder, params, overwrite=overwrite)
    else:
        result = harmonizer(image, mask)
    hio.write_image(job.out, np.clip(result, 0, 1).astype(np.float32))


def run_jobs(harmonizer: Any, jobs: Sequence[HarmonizeJob], summary: HarmonizeSummary, *,
             overwrite: bool = False, progress: bool = True) -> HarmonizeSummary:
    """Run every job under the error policy of long runs, counting into ``summary``.

    An existing output is kept (and counted) unless ``overwrite``. A job that fails (no mask, a mask of
    another size, an unreadable file, a method that rejects its input) is listed with its one-line
    reason and the run goes on; when there is a single job, its failure is raised instead.

    Parameters
    ----------
    harmonizer : callable
        The method, from :func:`load_method`.
    jobs : sequence of HarmonizeJob
        From :func:`plan_jobs`.
    summary : HarmonizeSummary
        Filled in place: ``written``, ``kept``, ``failed`` and ``seconds``; its ``background`` and
        ``export_params`` say how each job runs (see :func:`harmonize_job`).
    overwrite : bool
        Replace existing outputs (and exported parameters).
    progress : bool
        Show a :mod:`tqdm` bar on stderr (never for a single job).

    Returns
    -------
    HarmonizeSummary
        ``summary``, filled in.

    Raises
    ------
    InputError
        The single job failed (its one-line reason).
    """
    from tqdm import tqdm

    params_root = Path(summary.export_params) if summary.export_params is not None else None
    start = time.perf_counter()
    bar = tqdm(jobs, desc=f"harmonize {summary.method}", disable=not progress or len(jobs) == 1, unit="img")
    for job in bar:
        if job.out.exists() and not overwrite:
            summary.kept += 1
            continue
        try:
            harmonize_job(harmonizer, job, background=summary.background, export_params=params_root,
                          overwrite=overwrite)
            summary.written += 1
        except (InputError, ItemError, ValueError) as exc:
            reason = str(exc).splitlines()[0]
            if len(jobs) == 1:
                raise InputError(reason) from None
            summary.failed.append((job.composite.name, reason))
    summary.seconds = time.perf_counter() - start
    return summary


def harmonize_paths(method: str, composite: str | Path, mask: str | Path, out: str | Path, *,
                    weights: str | Path | None = None, device: str = "cpu", background: bool = False,
                    export_params: str | Path | None = None, overwrite: bool = False,
                    progress: bool = True) -> HarmonizeSummary:
    """Harmonize one composite, or every composite of a folder, with ``method``; write the results.

    The steps: :func:`load_method`, :func:`plan_jobs`, :func:`run_jobs`; print
    :meth:`HarmonizeSummary.lines` to report. Images are read and written on the float32 contract of
    :mod:`harmony.io` (RGB in [0, 1]); outputs are PNG or JPEG by the suffix of ``out`` (folder mode:
    ``out/<stem>.png``).

    Parameters
    ----------
    method : str
        A registered method name or a ``package.module:attr`` spec.
    composite : str or Path
        A composite image, or a folder of composites.
    mask : str or Path
        Its mask (a grey image, foreground > 0.5 after scaling to [0, 1]), or a folder of masks matched
        by :func:`find_mask`.
    out : str or Path
        Output image, or output folder for a folder of composites.
    weights : str or Path or None
        Checkpoint (folder) of a learned method.
    device : str
        torch device of learned methods.
    background : bool
        Harmonize the background to the foreground instead (inverted mask; BargainNet supplement,
        section 6).
    export_params : str or Path or None
        Parametric methods (SPRIH): also write the predicted curves and shading map here (folder mode:
        one sub-folder per composite stem); re-apply them with ``harmony apply-params``.
    overwrite : bool
        Replace existing outputs and parameters (otherwise they are kept).
    progress : bool
        Show a progress bar for folders.

    Returns
    -------
    HarmonizeSummary
        Counts of written, kept and failed images, and the time per image.

    Raises
    ------
    InputError
        Unknown method, missing checkpoint, ``export_params`` with a method that is not parametric,
        inputs that do not match (see :func:`plan_jobs`), or the failure of a single composite.

    Examples
    --------
    >>> import tempfile
    >>> from harmony import io as hio
    >>> folder = Path(tempfile.mkdtemp())
    >>> image = np.full((32, 32, 3), 0.5, np.float32); image[8:24, 8:24] = (0.9, 0.2, 0.2)
    >>> mask = np.zeros((32, 32), np.float32); mask[8:24, 8:24] = 1
    >>> hio.write_image(folder / "comp.png", image); hio.write_mask(folder / "mask.png", mask)
    >>> summary = harmonize_paths("reinhard", folder / "comp.png", folder / "mask.png", folder / "out.png",
    ...                           progress=False)
    >>> summary.written, summary.failed, hio.read_image(folder / "out.png").shape
    (1, [], (32, 32, 3))
    """
    name, card, harmonizer = load_method(method, weights=weights, device=device)
    if export_params is not None and not hasattr(harmonizer, "harmonize_with_params"):
        raise InputError(f"--export-params: method {name} is not parametric (use --method sprih)")
    jobs = plan_jobs(composite, mask, out)
    summary = HarmonizeSummary(name, getattr(harmonizer, "checkpoint", "") if card.learned else None, background,
                               Path(out), export_params)
    return run_jobs(harmonizer, jobs, summary, overwrite=overwrite, progress=progress)

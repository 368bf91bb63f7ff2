"""The ``refacing`` command line: one subcommand per course stage.

Run ``refacing --help`` for the list, ``refacing SUBCOMMAND --help`` for each (with the
defaults); ``python -m refacing_lib`` is the same command. The subcommands call the same
library functions as the notebooks.
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path

from refacing_lib.data.layout import Layout, check_source, data_root

#: ``refacing_lib.anonymize.deface.METHODS``, spelled out so that ``refacing --help`` need not
#: import it.
DEFACE_METHODS = ("blur", "remove")
#: ``refacing_lib.slicing.slices.SPACINGS`` and ``MIDPLANES``, spelled out for the same reason.
SLICE_SPACINGS = ("tight", "loose")
SLICE_MIDPLANES = ("head", "array")


def _synth(args: argparse.Namespace) -> None:
    from refacing_lib.data.synthetic import make_cohort

    out = args.out or data_root() / "synthetic"
    paths = make_cohort(out, subjects=args.subjects, seed=args.seed, rescans=args.rescans,
                        jobs=args.jobs, faces=args.faces)
    print(f"{len(paths)} synthetic subjects in {out} (ground truth in {Path(out) / 'truth'})")


def _fetch_ixi(args: argparse.Namespace) -> None:
    from refacing_lib.data.ixi import fetch

    dest = fetch(args.dest or data_root() / "ixi", extract=not args.no_extract)
    print(f"IXI T1 data ready in {dest}")


def _deface(args: argparse.Namespace) -> None:
    from refacing_lib.anonymize.files import deface_folder

    report = deface_folder(args.inputs, args.out, args.method, jobs=args.jobs)
    print(report.summary())
    if not report.ok:
        total = len(report.done) + len(report.skipped) + len(report.failed)
        raise RuntimeError(f"{len(report.failed)} of {total} files failed (listed above); "
                           "run the same command again to retry them, finished files are skipped")


def _slices(args: argparse.Namespace) -> None:
    from refacing_lib.slicing.datasets import build_dataset

    folders = Layout(args.source)
    originals = args.originals or folders.originals
    anonymized = args.anonymized or folders.anonymized(args.method)
    out = args.out or folders.dataset(args.experiment, args.method)
    build_dataset(originals, anonymized, out, experiment=args.experiment, spacing=args.spacing,
                  midplane=args.midplane, overwrite=args.overwrite)


def _training_setup(args: argparse.Namespace):
    """The profile, the folders of the data source, the experiment, method and run folder of
    train, reface and evaluate."""
    from .profiles import data_plan, load_profile

    profile = load_profile(args.profile)
    plan = data_plan(profile)
    folders = Layout(args.source or plan.source)
    experiment = args.experiment or plan.experiment
    method = args.method or plan.method
    run = args.run or folders.run(experiment, method)
    return profile, folders, experiment, method, run


def _train(args: argparse.Namespace) -> int:
    from refacing_lib.model.training import train

    from .profiles import train_config

    profile, folders, experiment, method, run = _training_setup(args)
    config = train_config(profile, precision=args.precision, batch_size=args.batch_size)
    dataset = args.dataset or folders.dataset(experiment, method)
    print(f"training {run} on {dataset} ({profile.get('profile', args.profile)} profile)",
          flush=True)
    result = train(dataset, run, config, resume=not args.fresh, until_step=args.until_step)
    return 130 if result.interrupted else 0


def _reface(args: argparse.Namespace) -> None:
    from refacing_lib.batch import find_nifti, run_batch
    from refacing_lib.model.reface import reface_dataset, reface_file
    from refacing_lib.model.training import load_generator
    from refacing_lib.slicing.datasets import open_dataset

    _, _, _, _, run = _training_setup(args)
    if bool(args.dataset) == bool(args.inputs):
        raise ValueError("give either --dataset DIR or anonymized volumes (INPUT... --out DIR)")
    generator = load_generator(run)
    if args.dataset:
        dataset = open_dataset(args.dataset)
        out = Path(run) / "refaced" / f"{dataset.folder.name}-{args.split}.npy"
        refaced = reface_dataset(generator, dataset, args.split, out=out)
        print(f"{len(refaced)} {args.split} slices refaced -> {out}")
        return
    if args.out is None:
        raise ValueError("--out DIR is needed for refaced volumes")
    jobs = [(source, args.out / source.name) for source in find_nifti(args.inputs)]
    report = run_batch(partial(reface_file, generator=generator), jobs, desc="reface")
    print(report.summary())
    if not report.ok:
        raise RuntimeError(f"{len(report.failed)} of {len(jobs)} files failed (listed above)")


def _evaluate(args: argparse.Namespace) -> None:
    from refacing_lib.evaluate.evaluation import evaluate_run
    from refacing_lib.evaluate.results import write_results

    _, folders, experiment, method, run = _training_setup(args)
    out = args.out or folders.results / folders.name(experiment, method)
    markdown = write_results([evaluate_run(folders, experiment, method, run,
                                           render=args.render)], out)
    print(markdown.read_text())
    print(f"results in {out}")


def _reproduce(args: argparse.Namespace) -> None:
    from .pipeline import reproduce

    out = reproduce(args.profile, args.out, progress=args.progress)
    print((out / "metrics.md").read_text())


def _export_pretrained(args: argparse.Namespace) -> None:
    from refacing_lib.evaluate.pretrained import export_pretrained

    for method in args.methods:
        export_pretrained(method)


def _evaluate_pretrained(args: argparse.Namespace) -> None:
    from refacing_lib.evaluate.pretrained import evaluate_pretrained

    evaluate_pretrained(args.out, args.methods, jobs=args.jobs, subjects=args.subjects)
    print((args.out / "metrics.md").read_text())
    print(f"results in {args.out}")


def _notebooks(args: argparse.Namespace) -> None:
    from .notebooks import run_notebooks

    run_notebooks(args.profile, args.out, only=args.only)


def version() -> str:
    """The version of the installed ``refacing`` distribution; ``refacing_lib.__version__``
    where it is not installed (the source tree on ``PYTHONPATH``)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as distribution_version

    try:
        return distribution_version("refacing")
    except PackageNotFoundError:
        from refacing_lib import __version__

        return __version__


class HelpFormatter(argparse.HelpFormatter):
    """Help that ends each option's text with its default, ``(default: 12)``: not for the
    None of options without one or the True/False of flags, nor where the text already says
    ``default:``."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (default is None or default is argparse.SUPPRESS or isinstance(default, bool)
                or "default:" in text
                or not (action.option_strings or action.nargs in ("?", "*"))):
            return text
        if isinstance(default, (list, tuple)):
            default = " ".join(map(str, default))
        shown = str(default).replace("%", "%%")      # the text is %-formatted afterwards
        return f"{text} (default: {shown})" if text else f"default: {shown}"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``refacing`` with all its subcommands."""
    parser = argparse.ArgumentParser(
        prog="refacing", description="Anonymize IXI T1 heads and reface them (course tools).",
        epilog="`python -m refacing_lib` is the same command.", formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND",
        parser_class=partial(argparse.ArgumentParser, formatter_class=HelpFormatter))

    _add_data_commands(sub)
    _add_run_commands(sub)
    _add_course_commands(sub)
    return parser


def _add_data_commands(sub) -> None:
    """The subcommands that make data: synth, fetch-ixi, deface, slices."""
    p = sub.add_parser("synth", help="generate the synthetic IXI-like cohort")
    p.add_argument("--out", type=Path, help="output folder (default: <data>/synthetic)")
    p.add_argument("--subjects", type=_positive_int, default=12, help="number of subjects")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same files)")
    p.add_argument("--rescans", action="store_true", help="also write a rescan of every subject")
    p.add_argument("--jobs", type=_positive_int, default=1, help="parallel processes")
    p.add_argument("--faces", choices=("human", "block"), default="human",
                   help="human: eyes, lids, brows, cheekbones, nose and mouth, which face "
                        "detectors find; block: the blocky faces of the course profile's "
                        "cohort, on which the shipped models were trained")
    p.set_defaults(func=_synth)

    p = sub.add_parser("fetch-ixi", help="download and unpack IXI-T1.tar and IXI.xls")
    p.add_argument("dest", nargs="?", type=Path, help="target folder (default: <data>/ixi)")
    p.add_argument("--no-extract", action="store_true", help="download only, keep the .tar")
    p.set_defaults(func=_fetch_ixi)

    p = sub.add_parser("deface", help="anonymize T1 heads: blur or remove the face")
    p.add_argument("--method", required=True, choices=DEFACE_METHODS,
                   help="blur: smear the skin over the face (mask_face); remove: set the face "
                        "to 0 (mri_deface)")
    p.add_argument("inputs", nargs="+", type=Path, metavar="INPUT",
                   help=".nii/.nii.gz files or folders of them")
    p.add_argument("--out", type=Path, required=True,
                   help="output folder: same file names, plus NAME_changed.nii.gz masks")
    p.add_argument("--jobs", type=_positive_int, default=1, help="parallel processes")
    p.set_defaults(func=_deface)

    p = sub.add_parser("slices", help="build the 21-slice train/test dataset of an experiment")
    p.add_argument("--experiment", required=True, choices=("guys", "all"),
                   help="the paper's split: Guy's subjects only, or all three sites")
    p.add_argument("--method", required=True, choices=DEFACE_METHODS,
                   help="which anonymization is domain A")
    p.add_argument("--source", default="synthetic", type=_source,
                   help="which data under the data root: synthetic, synthetic-NAME or ixi")
    p.add_argument("--originals", type=Path, help="folder of original volumes "
                   "(default: <data>/SOURCE)")
    p.add_argument("--anonymized", type=Path, help="folder of their anonymized versions "
                   "(default: <data>/anonymized/METHOD/SOURCE, from `refacing deface`)")
    p.add_argument("--out", type=Path, help="dataset folder "
                   "(default: <data>/datasets/SOURCE-EXPERIMENT-METHOD)")
    p.add_argument("--spacing", default="tight", type=_spacing, help="slice spacing: tight "
                   "(1.8 mm, the paper's), loose (3.6 mm) or a distance in mm")
    p.add_argument("--midplane", default="head", choices=SLICE_MIDPLANES,
                   help="mid-sagittal plane: the head's centre or the array's (the paper's)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a dataset built with other settings or inputs")
    p.set_defaults(func=_slices)


def _add_run_commands(sub) -> None:
    """The subcommands of one run folder: train, reface, evaluate."""
    for name, text in (("train", "train the CycleGAN on a slice dataset (resumes by default)"),
                       ("reface", "reface anonymized slices or volumes with a trained generator"),
                       ("evaluate", "measure a trained run: correlation, SSIM, "
                                    "re-identification (2-D profiles, face recognition), "
                                    "the paper's figures")):
        p = sub.add_parser(name, help=text)
        p.add_argument("--profile", default="quick", help="quick, course, full, or a YAML "
                       "file; sets the network, the training and the defaults below")
        p.add_argument("--source", type=_source, help="synthetic, synthetic-NAME or ixi "
                       "(default: the profile's)")
        p.add_argument("--experiment", choices=("guys", "all"), help="default: the profile's")
        p.add_argument("--method", choices=DEFACE_METHODS, help="default: the profile's")
        p.add_argument("--run", type=Path, help="run folder (default: "
                       "<data>/runs/SOURCE-EXPERIMENT-METHOD)")
    train_p, reface_p = sub.choices["train"], sub.choices["reface"]
    train_p.add_argument("--dataset", type=Path, help="slice dataset (default: "
                         "<data>/datasets/SOURCE-EXPERIMENT-METHOD, from `refacing slices`)")
    train_p.add_argument("--until-step", type=_positive_int,
                         help="stop after this many steps in all (a checkpoint is saved)")
    train_p.add_argument("--fresh", action="store_true",
                         help="refuse to resume: fail if the run folder has a checkpoint")
    train_p.add_argument("--precision", choices=("float32", "bfloat16"),
                         help="bfloat16: mixed precision for GPUs (default: the profile's)")
    train_p.add_argument("--batch-size", type=_positive_int,
                         help="images per step, split across devices (default: the profile's)")
    train_p.set_defaults(func=_train)
    reface_p.add_argument("inputs", nargs="*", type=Path, metavar="INPUT",
                          help="anonymized .nii/.nii.gz files or folders (their "
                               "NAME_changed.nii.gz masks limit what is replaced)")
    reface_p.add_argument("--out", type=Path, help="output folder for refaced volumes")
    reface_p.add_argument("--dataset", type=Path, help="reface a dataset split instead; "
                          "writes RUN/refaced/DATASET-SPLIT.npy")
    reface_p.add_argument("--split", default="test", choices=("train", "test"),
                          help="which split of --dataset")
    reface_p.set_defaults(func=_reface)

    evaluate_p = sub.choices["evaluate"]
    evaluate_p.add_argument("--out", type=Path, help="results folder (default: "
                            "build/results/SOURCE-EXPERIMENT-METHOD)")
    evaluate_p.add_argument("--no-render", dest="render", action="store_false",
                            help="skip the render attack (face recognition on whole heads, "
                                 "a few seconds per head)")
    evaluate_p.set_defaults(func=_evaluate)


def _add_course_commands(sub) -> None:
    """The subcommands of the whole course: reproduce, the pretrained model, notebooks."""
    p = sub.add_parser("reproduce", help="anonymize, slice, train and evaluate every "
                       "experiment of a profile; write one results folder (resumable)")
    p.add_argument("--profile", default="quick", help="quick, course, full, or a YAML file")
    p.add_argument("--out", type=Path, help="results folder (default: build/results/PROFILE)")
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no progress bars (each stage still prints a line)")
    p.set_defaults(func=_reproduce)

    p = sub.add_parser("export-pretrained", help="store the course profile's trained "
                       "generators as the shipped pretrained model (float16, sha256)")
    p.add_argument("--methods", nargs="+", choices=DEFACE_METHODS, default=list(DEFACE_METHODS),
                   help="the anonymizations whose generators to export")
    p.set_defaults(func=_export_pretrained)

    p = sub.add_parser("evaluate-pretrained", help="measure the shipped pretrained model on "
                       "its test subjects (regenerated from the seed)")
    p.add_argument("--methods", nargs="+", choices=DEFACE_METHODS, default=list(DEFACE_METHODS),
                   help="the anonymizations whose generators to evaluate")
    p.add_argument("--out", type=Path, default=Path("build") / "results" / "pretrained",
                   help="results folder")
    p.add_argument("--jobs", type=_positive_int, default=2, help="processes for anonymizing")
    p.add_argument("--subjects", nargs="+", metavar="NAME", help="only these test subjects "
                   "(IXI file names; a quick check, the gallery then theirs)")
    p.set_defaults(func=_evaluate_pretrained)

    p = sub.add_parser("notebooks", help="execute the course notebooks with papermill")
    p.add_argument("--profile", default="quick", help="quick, course, full, or a YAML file")
    p.add_argument("--out", type=Path, default=Path("build"), help="folder for executed notebooks")
    p.add_argument("--only", nargs="+", metavar="NN", help="run only notebooks starting with NN")
    p.set_defaults(func=_notebooks)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _source(text: str) -> str:
    try:
        return check_source(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _spacing(text: str) -> str | float:
    if text in SLICE_SPACINGS:
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be {' or '.join(SLICE_SPACINGS)} or a distance in mm, got {text!r}") from None


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``refacing`` console command; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        status = args.func(args)
    except KeyboardInterrupt:
        print("refacing: interrupted; finished files are kept and skipped next time",
              file=sys.stderr)
        return 130
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"refacing {args.command}: error: {exc}", file=sys.stderr)
        return 1
    return status or 0


if __name__ == "__main__":
    sys.exit(main())

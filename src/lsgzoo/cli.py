"""The `lsgzoo` command: convert checkpoints (BART and the other families of `models.families`) to LSG,
export Hub folders, report sweeps.

Heavy libraries load only inside the chosen subcommand, so `--help` is instant. A local path that does not
exist or is not the folder a subcommand expects is said plainly (exit 2) before anything is loaded or the
Hub is tried.
"""

import argparse
import json
import sys
import typing
from pathlib import Path

from lsgzoo.attention.keys import LSG_PATTERN_KEYS, PATTERN_FIELDS

DESCRIPTION = """lsgzoo: long-context transformers (BART, ...) with LSG (Local + Sparse + Global) attention.

examples:
  lsgzoo convert facebook/bart-base out/lsg-bart-base-4096 --max-length 4096
  lsgzoo convert ./my-bart out/lsg --max-length 16384 --block-size 64 --sparsity-type pooling --sparsity-factor 4
  lsgzoo export out/lsg-bart-base-4096 hub/lsg-bart-base-4096
  lsgzoo export outputs/2026-01-01/12-00-00 hub/my-run        # a training run dir
  lsgzoo report multirun/2026-01-01/12-00-00 --export-best hub/best
  lsgzoo report multirun/2026-01-01/12-00-00 --baseline sparsity_type=none   # seed groups vs a baseline
  lsgzoo report multirun/2026-01-01/12-00-00 --solved-at 0.9 --compare sparsity_factor=2,8
"""


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def check_checkpoint_source(source: str) -> None:
    """Raise unless `source` is a local checkpoint folder (holding config.json) or could be a hub name.

    A string that is not a valid hub repo id (`/abs/path`, `./rel`, `a/b/c`) is a local path, so a missing
    one says "no such folder" instead of the hub's repo-id error."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    path = Path(source).expanduser()
    if path.exists():
        check_checkpoint_folder(path, "checkpoint folder")
        return
    try:
        validate_repo_id(source)
    except HFValidationError:
        raise FileNotFoundError(f"{source}: no such folder (give a local checkpoint folder or a hub name such as "
                                "facebook/bart-base)") from None


def check_checkpoint_folder(path: Path, kind: str) -> None:
    """Raise unless `path` is a folder holding config.json (`kind`: what the message calls it)."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such folder; give a {kind}")
    if not path.is_dir():
        raise ValueError(f"{path} is a file, not a {kind} (a folder holding config.json)")
    if not (path / "config.json").is_file():
        raise ValueError(f"{path} is not a {kind}: it has no config.json")


def check_export_source(path: Path) -> None:
    """Raise unless `path` is a training run dir or an LSG checkpoint folder."""
    from lsgzoo.training.rundir import is_run_dir

    if path.is_file() and path.suffix == ".ckpt":
        raise ValueError(f"{path} is a Lightning checkpoint file; give the run dir that holds it "
                         f"({path.parent.parent if path.parent.name == 'checkpoints' else 'the run dir'})")
    if not is_run_dir(path):
        check_checkpoint_folder(path, "checkpoint folder or training run dir")


def add_pattern_flags(parser) -> None:
    """One flag per pattern key of `LSGKeys` (`--block-size` ...), typed and documented (range included) from its
    field; the model config checks the value against the same range."""
    for field in PATTERN_FIELDS:
        kind = next(t for t in (*typing.get_args(field.type), field.type) if t is not type(None))
        parser.add_argument("--" + field.name.replace("_", "-"), type=kind,
                            help=f"{field.metadata['help']}: {field.metadata['range'].text()} (default {field.default})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lsgzoo", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    convert = commands.add_parser(
        "convert", help="turn a checkpoint (BART, ...) into its LSG model for long inputs",
        description="Convert a checkpoint (local folder or hub name) of a supported family (BART, ...; the "
                    "source's model_type picks it) into its LSG model: position tables are "
                    "tiled to --max-length and global tokens initialised as the original LSG converter does. "
                    "The output folder also loads with plain transformers (trust_remote_code=True).")
    convert.add_argument("source", help="checkpoint folder or hub name (e.g. facebook/bart-base)")
    convert.add_argument("out", type=Path, help="output folder (must not exist unless --overwrite)")
    convert.add_argument("--max-length", type=positive_int, default=4096, help="new maximum input length (4096)")
    add_pattern_flags(convert)
    convert.add_argument("--architecture", help="target head, e.g. BartForSequenceClassification "
                                                "(default: the source's own, else the family's default)")
    convert.add_argument("--no-token-ids", dest="use_token_ids", action="store_false",
                         help="do not add the token-type row to the global tokens (families with token types)")
    convert.add_argument("--random-global-init", action="store_true", help="draw global tokens at random")
    convert.add_argument("--global-positional-stride", type=positive_int, default=64)
    convert.add_argument("--keep-first-global-token", action="store_true", help="LSG source: keep global 0")
    convert.add_argument("--resize-lsg", action="store_true", help="LSG source: keep its global tokens")
    convert.add_argument("--config", type=json.loads, default={}, metavar="JSON",
                         help='other config overrides as JSON, e.g. \'{"mask_first_token": true}\'')
    convert.add_argument("--seed", type=int, default=123, help="seed for the random parts (123)")
    convert.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    convert.set_defaults(run=run_convert)

    export = commands.add_parser(
        "export", help="write a Hub folder that loads with plain transformers",
        description="Export an LSG checkpoint folder to a self-contained Hugging Face Hub folder: "
                    "config.json with auto_map, model.safetensors, the family's modeling_lsg_*.py, tokenizer, "
                    "model card.")
    export.add_argument("source", type=Path, help="LSG checkpoint folder, or a training run dir (exports its best checkpoint)")
    export.add_argument("out", type=Path, help="output folder (must not exist unless --overwrite)")
    export.add_argument("--task", help="model head to export (default: the checkpoint's own), e.g. "
                                       "seq2seq-lm, sequence-classification, question-answering, base")
    export.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    export.set_defaults(run=run_export)

    report = commands.add_parser(
        "report", help="gather a sweep into seed groups with statistics, a ranked table, plots and its best run",
        description="Collect the runs of a Hydra multirun (each run dir's summary.json; runs without one count "
                    "as failed), write a table ranked by the metric (sweep.md, sweep.csv, failed runs last), "
                    "the runs that differ only in seed grouped with n, mean, std and a 95% bootstrap interval "
                    "(groups.md, groups.csv; with several tasks also a task x configuration matrix: matrix.md, "
                    "matrix.csv, matrix.png, and the ranking across tasks with cd_diagram.png), comparisons "
                    "with adjusted p-values (--baseline, --compare, --all-pairs: compare.md, compare.csv), PNG "
                    "plots (metric vs block_size and vs sparsity_factor per selector with CI "
                    "error bars, metric vs throughput/time/memory per run) and report.json; print the groups "
                    "and the best run.")
    report.add_argument("multirun_dir", type=Path, metavar="MULTIRUN_DIR",
                        help="a multirun folder (multirun/<date>/<time>), any folder above run dirs, or one run dir")
    report.add_argument("--metric", help="metric to rank by, e.g. val/loss (default: the runs' monitored metric; "
                        "each task's own when the tasks monitor different ones)")
    report.add_argument("--mode", choices=("max", "min"),
                        help="whether higher or lower is better (default: the runs' monitor_mode)")
    report.add_argument("--baseline", metavar="KEY=VALUE",
                        help="compare every group with this one (e.g. sparsity_type=none) in its task at the same "
                             "other settings (paired test where the seeds pair, else Welch's t-test); adjusted "
                             "p < 0.05 is marked")
    report.add_argument("--solved-at", type=float, metavar="T",
                        help="count the runs scoring at least T (at most T for --mode min) per group, with exact "
                             "intervals, compared with the baseline by Fisher's exact test")
    report.add_argument("--adjust", choices=("holm", "bh", "none"), default="holm",
                        help="multiple-comparison adjustment of every table's p-values (default holm)")
    report.add_argument("--compare", action="append", default=[], metavar="KEY=A,B",
                        help="compare KEY=A against KEY=B at every other setting, plus a pooled row per task "
                             "(e.g. sparsity_factor=2,8); repeatable")
    report.add_argument("--all-pairs", action="append", default=[], metavar="KEY",
                        help="compare every pair of KEY's values at each other setting (e.g. sparsity_type); "
                             "repeatable")
    report.add_argument("--out", type=Path, help="report folder (default: MULTIRUN_DIR/report)")
    report.add_argument("--export-best", type=Path, metavar="OUT",
                        help="also export the best run's checkpoint to a Hub folder, sweep table in its card")
    report.add_argument("--overwrite", action="store_true", help="replace an existing --export-best folder")
    report.set_defaults(run=run_report)
    return parser


def run_convert(args) -> int:
    from lsgzoo.hub import write_hub_folder
    from lsgzoo.models.conversion import convert_to_lsg

    if args.out.exists() and not args.overwrite:
        raise FileExistsError(f"{args.out} exists; choose a new folder or pass --overwrite")
    check_checkpoint_source(args.source)
    lsg = {key: getattr(args, key) for key in LSG_PATTERN_KEYS if getattr(args, key) is not None}
    model, tokenizer, report = convert_to_lsg(
        args.source, args.max_length, architecture=args.architecture, random_global_init=args.random_global_init,
        use_token_ids=args.use_token_ids,
        global_positional_stride=args.global_positional_stride, keep_first_global_token=args.keep_first_global_token,
        resize_lsg=args.resize_lsg, seed=args.seed, **{**args.config, **lsg})
    write_hub_folder(model, args.out, tokenizer, {"Conversion": {"source": args.source, "max_length": args.max_length,
                                                                 "new_weights": report["new"]}}, args.overwrite)
    print(f"wrote {type(model).__name__} ({args.max_length} tokens) to {args.out}")
    return 0


def run_export(args) -> int:
    from lsgzoo.hub import export_model

    check_export_source(args.source)
    out = export_model(args.source, args.out, task=args.task, overwrite=args.overwrite)
    print(f"exported {args.source} to {out}")
    return 0


def run_report(args) -> int:
    from lsgzoo.report import export_best, make_report

    if args.export_best is not None and args.export_best.exists() and not args.overwrite:
        raise FileExistsError(f"--export-best {args.export_best} exists; choose a new folder or pass --overwrite")
    report = make_report(args.multirun_dir, args.out, metric=args.metric, mode=args.mode, baseline=args.baseline,
                         solved_at=args.solved_at, adjust=args.adjust, compare=args.compare,
                         all_pairs_of=args.all_pairs)
    print(report.printed())
    print(f"wrote {', '.join(path.name for path in report.files.values())} to {report.out}")
    print(report.best_line())
    if report.checkpoint_note:
        print(f"note: {report.checkpoint_note}")
    if args.export_best is not None:
        out = export_best(report, args.export_best, overwrite=args.overwrite)
        print(f"exported {report.best.name} to {out}")
    return 0 if report.scored else 1


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, FileExistsError, FileNotFoundError, TypeError) as error:
        parser.exit(2, f"lsgzoo {args.command}: error: {error}\n")


if __name__ == "__main__":
    sys.exit(main())

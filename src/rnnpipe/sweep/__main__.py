"""python -m rnnpipe.sweep run sweeps/NAME.yaml | agent NAME | show NAME [--markdown FILE] [--png FILE] [--force]
| check FILE...

run    checks the sweep file, creates its Optuna study (or resumes it) and runs trials until the budget is spent
agent  joins an existing study (any clone that reaches the same storage) and runs trials until the budget is spent
       (run and agent: --cold starts every stage process from scratch, see rnnpipe.warm)
show   prints the trials, the best one, parameter importances; writes a PNG of the objective (and a markdown table);
       it refuses to replace an existing --markdown or --png file unless --force is given
check  validates sweep files and starts nothing
"""
from __future__ import annotations

import sys

from rnnpipe.cli import OneLineParser
from rnnpipe.core.errors import RnnpipeError


def main(argv: list[str]) -> int:
    parser = OneLineParser(prog="python -m rnnpipe.sweep", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="create or resume a sweep's study and run trials")
    run.add_argument("file")
    agent = commands.add_parser("agent", help="join a sweep's study and run trials")
    agent.add_argument("name")
    for command in (run, agent):
        command.add_argument("--cold", action="store_true",
                             help="start every stage process from scratch (default: forks of a warm interpreter)")
    show = commands.add_parser("show", help="the trials, the best, importances, a PNG")
    show.add_argument("name")
    show.add_argument("--markdown", metavar="FILE", help="also write the trials table as markdown to FILE")
    show.add_argument("--png", metavar="FILE", help="the plot's path (default .sweeps/NAME.png, replaced each time)")
    show.add_argument("--force", action="store_true",
                      help="replace the --markdown and --png files if they exist (default: refuse)")
    commands.add_parser("check", help="validate sweep files, start nothing").add_argument("files", nargs="+")
    args = parser.parse_args(argv)

    from rnnpipe.sweep.agent import join, root_of_checkout, start

    root = root_of_checkout()
    if args.command == "run":
        return start(args.file, root, warm=not args.cold)
    if args.command == "agent":
        return join(args.name, root, warm=not args.cold)
    if args.command == "show":
        from rnnpipe.sweep.show import show as show_study

        print(show_study(args.name, root, args.markdown, args.png, args.force))
        return 0
    from rnnpipe.sweep.spec import load_spec

    for file in args.files:
        spec = load_spec(file, root)
        print(f"{file}: ok ({len(spec.space)} params, {spec.sampler}, {spec.objective.direction} "
              f"{spec.objective.metric})")
    return 0


def exit_now(code: int) -> None:
    """Exit without the collector's passes over Optuna's and MLflow's objects at teardown (seconds, for nothing);
    exit handlers still run."""
    import gc

    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    try:
        exit_now(main(sys.argv[1:]))
    except RnnpipeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("sweep: stopped; finished trials are in the study, the interrupted one runs again with the next agent",
              file=sys.stderr)
        sys.exit(130)

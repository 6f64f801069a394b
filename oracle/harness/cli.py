"""Command line: `convt-oracle selfcheck`, `cases`, `run`, `merge`, `gate`, `explain`, `env` and `adapters` (also
`python -m convt_oracle`)."""

from __future__ import annotations

import argparse
import math
import signal
import sys
import tempfile
import traceback

import numpy as np


# Exit statuses, the same for every command (README, "Exit statuses").
EXIT_OK, EXIT_DISCREPANCIES, EXIT_USAGE, EXIT_ENVIRONMENT, EXIT_INTERNAL, EXIT_NOTHING_COMPARED = 0, 1, 2, 3, 4, 5
EXIT_STATUSES = {
    EXIT_OK: "nothing wrong",
    EXIT_DISCREPANCIES: "discrepancies (the targets' findings) that no known finding explains, or a known finding expired; gate: regressions",
    EXIT_USAGE: "usage error",
    EXIT_ENVIRONMENT: "environment error: no adapter installed, a target not run, a report or log not written, "
                      "a merge refused or with cases missing; gate, explain: a report it cannot read or compare",
    EXIT_INTERNAL: "an error of convt-oracle itself (its traceback is printed: please report it)",
    EXIT_NOTHING_COMPARED: "nothing was compared (every case unsupported)",
    128 + signal.SIGINT: "interrupted by SIGINT (Ctrl-C); 143 SIGTERM, 129 SIGHUP: the results so far are reported",
}


def _article_example() -> bool:
    from convt_oracle.cases import article
    from convt_oracle import arithmetic, conv_transpose

    pads = [arithmetic.same_padding(size, k, article.STRIDE, 1) for size, k in zip(article.INPUT.shape, article.KERNEL.shape)]
    result = conv_transpose(
        article.INPUT[None, None],
        article.KERNEL[None, None],
        stride=article.STRIDE,
        padding=[(p.begin, p.end) for p in pads],
        output_padding=[p.output_padding for p in pads],
    )[0, 0]
    print("The article's example: tf.nn.conv2d_transpose(x, ones(3x3), output_shape=(1,4,4,1), strides=2, 'SAME')")
    print(f"x =\n{article.INPUT}\ncanonical padding per axis: {pads}\nconv_transpose(x, w) =\n{result}")
    ok = np.array_equal(result, article.EXPECTED)
    print(f"matches the article's published result: {'yes' if ok else 'NO'}\n")
    return ok


def _adjoint_identity(seed: int, count: int) -> bool:
    """<conv_transpose(x), y> == <x, conv(y)> exactly, on integer-valued random configurations."""
    from convt_oracle import arithmetic, conv, conv_transpose

    rng = np.random.default_rng(seed)
    failures = 0
    for _ in range(count):
        rank = int(rng.integers(1, 4))
        groups = int(rng.integers(1, 4))
        cig, cog = int(rng.integers(1, 3)), int(rng.integers(1, 3))
        kernel = tuple(int(v) for v in rng.integers(1, 4, rank))
        stride = tuple(int(v) for v in rng.integers(1, 4, rank))
        dilation = tuple(int(v) for v in rng.integers(1, 3, rank))
        size = tuple(int(v) for v in rng.integers(1, 5, rank))
        full = [arithmetic.full_size(i, k, s, d) for i, s, d, k in zip(size, stride, dilation, kernel)]
        padding = tuple((int(rng.integers(0, (f + 1) // 2)), int(rng.integers(0, (f + 1) // 2))) for f in full)
        output_padding = tuple(int(v) for v in rng.integers(0, 3, rank))
        params = dict(stride=stride, padding=padding, output_padding=output_padding, dilation=dilation, groups=groups)
        x = rng.integers(-3, 4, (2, groups * cig, *size)).astype(float)
        w = rng.integers(-3, 4, (groups * cig, cog, *kernel)).astype(float)
        out = conv_transpose(x, w, **params)
        y = rng.integers(-3, 4, out.shape).astype(float)
        if np.vdot(out, y) != np.vdot(x, conv(y, w, **params)):
            failures += 1
            print(f"  adjoint identity FAILED for x{x.shape} w{w.shape} {params}")
    print(f"adjoint identity <conv_transpose(x), y> == <x, conv(y)>: {count - failures}/{count} exact (seed {seed})")
    return failures == 0


def selfcheck(seed: int, count: int) -> int:
    ok = _article_example()
    ok &= _adjoint_identity(seed, count)
    print("self-check:", "passed" if ok else "FAILED")
    return 0 if ok else 1


def cases_command(suite: str | None, seed: int, pairs: bool, dtypes) -> int:
    """Print each suite's size and coverage per feature value (convt_oracle.cases.coverage); uncovered pairs on request."""
    from convt_oracle.cases import coverage as cov
    from convt_oracle.cases import suites

    names = [suite] if suite else list(suites.SUITES)
    found = {name: cov.coverage(suites.get(name, seed=seed), dtypes) for name in names}
    if suite:
        print(f"suite {suite!r}, seed {seed}:")
        print(found[suite].render(pairs=pairs))
    else:
        values_total = sum(len(values) for values in cov.FEATURES.values())
        print(f"Suites (seed {seed}), runs counted in {', '.join(dtypes)}:")
        print(f"  {'suite':<11}{'cases':>7}{'configs':>9}{'specific':>10}{'invalid':>9}{'runs':>7}"
              f"{'values':>9}{'pairs':>10}")
        for name, c in found.items():
            expected = len(c.expected_pairs())
            print(f"  {name:<11}{c.cases:>7}{c.configurations:>9}{c.specific:>10}{c.invalid:>9}{c.runs:>7}"
                  f"{values_total - len(c.missing_values()):>5}/{values_total:<3}"
                  f"{expected - len(c.missing_pairs()):>6}/{expected}")
        print("\nRuns per feature value:")
        width = max(len(name) for name in names) + 2
        print(f"  {'feature':<15}{'value':<19}" + "".join(f"{name:>{width}}" for name in names))
        for feature, values in cov.FEATURES.items():
            for value in values:
                print(f"  {feature:<15}{value:<19}" + "".join(f"{found[n].counts[feature][value]:>{width}}" for n in names))
        if pairs:
            for name, c in found.items():
                missing = c.missing_pairs()
                print(f"\n{name}: {len(missing)} possible pairs uncovered")
                print("\n".join(f"  {a[0]}={a[1]} & {b[0]}={b[1]}" for a, b in missing))
    if pairs:
        print("\nImpossible pairs (no valid case can have them):")
        print(cov.impossible_pairs_text())
    return 0


def _dtypes(parser, text: str, option: str) -> tuple:
    from convt_oracle.cases import suites

    try:
        return suites.check_dtypes(text)
    except (TypeError, ValueError) as error:
        parser.error(f"{option}: {str(error).removeprefix('dtypes: ')}")


def _shard(parser, text):
    """The --shard K/N given (convt_oracle.harness.shards.Shard), or None; a usage error otherwise."""
    if text is None:
        return None
    from convt_oracle.harness.shards import Shard

    try:
        return Shard.parse(text, where="--shard")
    except ValueError as error:
        parser.error(str(error))


def run_command(parser, args) -> int:
    """`convt-oracle run`; its exit status is one of EXIT_STATUSES."""
    from convt_oracle.cases import suites
    from convt_oracle.harness.outputs import ReportNotWritable, check_folder_writable, check_writable
    from convt_oracle.harness.run import Interrupted, TargetSpec, installed_targets

    if args.suite not in suites.SUITES:
        parser.error(f"--suite: unknown {args.suite!r}; known suites: {', '.join(sorted(suites.SUITES))}")
    dtypes = _dtypes(parser, args.dtypes, "--dtypes")
    if not (args.timeout > 0 and math.isfinite(args.timeout)):
        parser.error(f"--timeout: got {args.timeout:g}; a case needs a positive, finite number of seconds")
    shard = _shard(parser, args.shard)
    known = _known_findings(parser, args.known)
    if args.json:
        try:
            check_writable("--json", args.json)
        except ReportNotWritable as error:
            print(f"convt-oracle run: {error}", file=sys.stderr)
            return EXIT_ENVIRONMENT
    from convt_oracle.harness import ci_reports  # --junit, --markdown, --html: checked before the run too

    try:
        ci_reports.check_run_options(args)
    except (ReportNotWritable, ci_reports.ReportLibraryMissing) as error:
        print(f"convt-oracle run: {error}", file=sys.stderr)
        return EXIT_ENVIRONMENT
    left_out = {}
    try:
        if args.targets is not None:
            names = [t.strip() for t in args.targets.split(",") if t.strip()]
            if not names:
                parser.error(f"--targets: got {args.targets!r}; give adapter names, comma-separated")
            targets = [TargetSpec.parse(name, where="--targets") for name in names]
            repeated = sorted({t.label for t in targets if [u.label for u in targets].count(t.label) > 1})
            if repeated:
                parser.error(f"--targets: {', '.join(repeated)} given twice")
        else:
            targets, left_out = installed_targets()
    except ValueError as error:
        parser.error(str(error))
    if not targets:
        print("convt-oracle run: no target: no adapter's framework is installed (pip install 'convt-oracle[all]')",
              file=sys.stderr)
        for name, why in left_out.items():
            print(f"  left out: {name} ({why})", file=sys.stderr)
        return EXIT_ENVIRONMENT
    cases = suites.select(args.suite, dtypes, seed=args.seed)
    total = len(cases) if shard is None else len(shard.select(cases))
    part = "" if shard is None else f"; shard {shard}: {total} of them"
    print(
        f"convt-oracle run: suite {args.suite!r} ({len(cases)} cases{part}), dtypes {', '.join(dtypes)}, "
        f"seed {args.seed}, grad {'on' if args.grad else 'off'}, targets {', '.join(t.label for t in targets)}",
        flush=True,
    )
    logs = args.worker_logs or tempfile.mkdtemp(prefix="convt-oracle-workers-")
    try:
        check_folder_writable("--worker-logs", logs)
    except ReportNotWritable as error:
        print(f"convt-oracle run: {error}", file=sys.stderr)
        return EXIT_ENVIRONMENT
    for name, why in left_out.items():
        print(f"  left out: {name} ({why})")

    def interrupt(signum, frame):  # SIGTERM and SIGHUP end the run as Ctrl-C does: the results so far
        raise Interrupted(signum)

    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    handlers = {number: signal.getsignal(number) for number in handled}
    for number in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, interrupt)
    try:
        return _run_and_report(args, targets, dtypes, total, logs, shard, known)
    finally:
        for number, handler in handlers.items():
            signal.signal(number, handler)


def _known_findings(parser, option):
    """(file name, entries) of `--known` (the shipped findings file by default), or None for `--known none`;
    a file that cannot be used is a usage error naming the file, the entry, the key and the rule."""
    from convt_oracle.harness import known

    try:
        return known.from_option(option)
    except known.KnownFindingsError as error:
        parser.error(f"--known: {error}")


def _run_and_report(args, targets, dtypes, total, logs, shard=None, known_findings=None) -> int:
    """Run, print the table and write the report; signals are ignored once the run has returned, so that
    a second one does not cut the report short."""
    from convt_oracle.harness.outputs import ReportNotWritable
    from convt_oracle.harness.run import ProgressPrinter, outcome_table, run

    progress = ProgressPrinter([t.label for t in targets], total)
    try:
        report = run(targets, suite=args.suite, dtypes=dtypes, seed=args.seed, grad=args.grad,
                     timeout=args.timeout, progress=progress, worker_logs=logs, shard=shard)
    finally:
        progress.close()
        for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(number, signal.SIG_IGN)
    if known_findings is not None:  # the discrepancies the findings file explains do not fail the run
        from convt_oracle.harness import known

        source, findings = known_findings
        report = known.apply(report, findings, source=source)
    print(f"the workers' own output (framework log lines, warnings): {logs}")
    print()
    print(outcome_table(report))
    print("\n".join(report.discrepancy_lines(limit=5) + report.known_lines()))
    print()
    print(report.verdict())
    written = True
    if args.json:
        try:
            report.to_json(args.json)
            print(f"report written to {args.json}")
        except ReportNotWritable as error:
            print(f"convt-oracle run: {error}", file=sys.stderr)
            written = False
    from convt_oracle.harness.ci_reports import write_run_reports

    written &= write_run_reports(report, args)
    return exit_status(report, written)


def merge_command(args) -> int:
    """`convt-oracle merge`: shards' reports as one (convt_oracle.harness.merge); its exit status is one of
    EXIT_STATUSES: 3 when the merge is refused (nothing written) or cases are missing (written, complete: false),
    otherwise the merged report's own."""
    from convt_oracle.harness.merge import MergeRefused, merge
    from convt_oracle.harness.outputs import ReportNotWritable, check_writable
    from convt_oracle.harness.report import Report, ReportFormatError
    from convt_oracle.harness.run import outcome_table

    try:
        check_writable("-o", args.output)
        merged = merge([(path, Report.load(path)) for path in args.parts])
    except (ReportNotWritable, ReportFormatError, MergeRefused) as error:
        print(f"convt-oracle merge: {error}; nothing written", file=sys.stderr)
        return EXIT_ENVIRONMENT
    report = merged.report
    print(f"convt-oracle merge: {len(args.parts)} parts, suite {report.suite!r} ({report.suite_cases} cases), dtypes "
          f"{', '.join(report.dtypes)}, seed {report.seed}, targets {', '.join(report.targets)}: {len(report.results)} "
          f"results")
    print()
    print(outcome_table(report))
    print("\n".join(report.discrepancy_lines(limit=5)))
    print(flush=True)
    for warning in merged.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if merged.missing_count:
        print(f"warning: {merged.missing_count} cases missing (the report says complete: false):", file=sys.stderr)
        for line in merged.missing_lines():
            print(f"  {line}", file=sys.stderr)
    sys.stderr.flush()
    print(report.verdict())
    try:
        report.to_json(args.output)
    except ReportNotWritable as error:
        print(f"convt-oracle merge: {error}", file=sys.stderr)
        return EXIT_ENVIRONMENT
    print(f"report written to {args.output}")
    return EXIT_ENVIRONMENT if merged.missing_count else exit_status(report)


def explain_command(parser, args) -> int:
    """`convt-oracle explain RUN.json`: the run's discrepancies grouped, what sets each group apart, a minimal
    case per group (convt_oracle.harness.explain). Exit 0 when it explained (discrepancies or not), 2 for a
    usage error, 3 for a report that cannot be read or an output that cannot be written."""
    from convt_oracle.harness import explain
    from convt_oracle.harness.outputs import ReportNotWritable, check_writable, write_atomically
    from convt_oracle.harness.report import Report, ReportFormatError

    for option, value in (("--budget", args.budget), ("--total-budget", args.total_budget)):
        if not (value > 0 and math.isfinite(value)):
            parser.error(f"{option}: got {value:g}; expected a positive, finite number of seconds")
    outputs = {option: path for option, path in (("--json", args.json), ("--markdown", args.markdown)) if path}
    try:
        for option, path in outputs.items():
            check_writable(option, path)
        report = Report.load(args.report)
    except (ReportNotWritable, ReportFormatError) as error:
        print(f"convt-oracle explain: {error}", file=sys.stderr)
        return EXIT_ENVIRONMENT
    if args.target is not None and args.target not in report.targets:
        parser.error(f"--target: {args.target!r} is not a target of {args.report}; its targets: "
                     f"{', '.join(report.targets) or 'none'}")
    groups = report.explain(target=args.target, shrink=not args.no_shrink, budget=args.budget,
                            total_budget=args.total_budget, progress=lambda line: print(line, file=sys.stderr, flush=True))
    print(explain.render_text(groups, report, source=args.report))
    renderers = {"--json": explain.to_json, "--markdown": explain.render_markdown}
    written = True
    for option, path in outputs.items():
        try:
            write_atomically(path, renderers[option](groups, report, source=args.report))
            print(f"{option.removeprefix('--')} written to {path}")
        except ReportNotWritable as error:
            print(f"convt-oracle explain: {option}: {error}", file=sys.stderr)
            written = False
    return EXIT_OK if written else EXIT_ENVIRONMENT


def env_command(args) -> int:
    """`convt-oracle env`: a worker environment for FRAMEWORK==VERSION (convt_oracle.harness.envs); prints the
    NAME@DIR/bin/python of each of its adapters on stdout, what it decides and does on stderr."""
    from convt_oracle.harness import envs

    try:
        made = envs.plan(args.folder, args.requirement, python=args.python, backend=args.backend,
                         accept_cuda_build=args.accept_cuda_build)
        print(f"convt-oracle env: {made.folder}, Python {'.'.join(map(str, made.python_version))} ({made.python})",
              file=sys.stderr)
        for note in made.notes:
            print(f"  {note}", file=sys.stderr)
        print(f"  installs: {' '.join(made.packages)}", file=sys.stderr, flush=True)
        if not args.dry_run:
            envs.create(made, say=lambda line: print(line, file=sys.stderr, flush=True))
    except envs.EnvError as error:
        print(f"convt-oracle env: {error}", file=sys.stderr)
        return error.status
    print("\n".join(made.targets()))
    return EXIT_OK


def exit_status(report, written: bool = True) -> int:
    """The exit status of a command that made `report` (EXIT_STATUSES); `written`: whether every report file
    asked for was written."""
    interrupted = report.environment.get("interrupted_by")
    if interrupted:
        return 128 + signal.Signals[interrupted].value
    if not written or report.targets_not_run:
        return EXIT_ENVIRONMENT
    if report.discrepancies or report.known_expired:
        return EXIT_DISCREPANCIES
    if not report.compared:
        return EXIT_NOTHING_COMPARED
    return EXIT_OK


def main(argv=None) -> int:
    epilog = "exit statuses:\n" + "\n".join(f"  {status:>3}  {meaning}" for status, meaning in EXIT_STATUSES.items())
    parser = argparse.ArgumentParser(prog="convt-oracle", description=__doc__, epilog=epilog,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("selfcheck", help="the article's example and the golden's adjoint self-check")
    check.add_argument("--seed", type=int, default=0, help="seed of the random configurations (default 0)")
    check.add_argument("--count", type=int, default=300, help="number of random configurations (default 300)")
    listing = commands.add_parser("cases", help="each suite's size and its coverage per parameter value")
    listing.add_argument("--suite", help="one suite (default: every suite)")
    listing.add_argument("--seed", type=int, default=0, help="seed of the generated suites (default 0)")
    listing.add_argument("--pairs", action="store_true", help="also list the uncovered and the impossible pairs")
    listing.add_argument(
        "--dtypes", default="float16,bfloat16,float32,float64",
        help="comma-separated dtypes the runs are counted in (default: all four)",
    )
    running = commands.add_parser("run", help="every installed adapter (or --targets) on a suite, against the golden")
    running.add_argument("--suite", default="default", help="suite name (default: default)")
    running.add_argument(
        "--targets", help="comma-separated adapter names or module:function, each optionally NAME@/path/to/python "
        "(default: every installed adapter)"
    )
    running.add_argument("--dtypes", default="float32", help="comma-separated dtypes (default: float32)")
    running.add_argument("--grad", action="store_true", help="also check each adapter's vector-Jacobian product")
    running.add_argument("--seed", type=int, default=0, help="seed of the generated cases (default 0)")
    running.add_argument("--timeout", type=float, default=60, help="seconds a case may take before it is a timeout")
    running.add_argument("--json", metavar="PATH", help="write the full report (every result, metrics, environment)")
    running.add_argument(
        "--known", metavar="FILE",
        help="findings file (TOML) whose entries explain discrepancies: they are marked known and do not fail the run "
             "(default: the one shipped with convt-oracle, its README's findings; 'none': no file)",
    )
    running.add_argument(
        "--worker-logs", metavar="DIR",
        help="where each worker's own output goes, one file per target (default: a new temporary directory)",
    )
    _add_report_options(running)
    running.add_argument(
        "--shard", metavar="K/N",
        help="run only shard K of N, a stable part of the cases by their ids (1 <= K <= N); "
             "`convt-oracle merge` joins the parts' reports",
    )
    commands.add_parser("adapters", help="the installed adapters, with framework versions and capabilities")
    making = commands.add_parser(
        "env", help="a worker environment for FRAMEWORK==VERSION, made with uv; prints the NAME@DIR/bin/python to use")
    making.add_argument("folder", metavar="DIR", help="the new environment's folder (new, or empty)")
    making.add_argument("requirement", metavar="FRAMEWORK==VERSION",
                        help="torch, tensorflow, jax, onnxruntime, onnx or keras at one version")
    making.add_argument("--python", help="its interpreter: a path, or a version uv finds installed (default: this one's)")
    making.add_argument("--backend", metavar="NAME[==VERSION]",
                        help="keras only: its backend, jax (default), torch or tensorflow")
    making.add_argument("--accept-cuda-build", action="store_true",
                        help="torch: install PyPI's CUDA build (several GB) where no CPU build is found on this machine")
    making.add_argument("--dry-run", action="store_true", help="say what would be installed and the targets; make nothing")
    merging = commands.add_parser("merge", help="the JSON reports of a run's shards (run --shard K/N) as one report")
    merging.add_argument("parts", nargs="+", metavar="PART", help="the shards' reports (run --json)")
    merging.add_argument("-o", "--output", required=True, metavar="RUN.json", help="where the merged report goes")
    _add_gate_command(commands)
    _add_explain_command(commands)
    args = parser.parse_args(argv)
    try:
        return _dispatch(parser, args)
    except KeyboardInterrupt as interruption:  # before a run's own handling begins, or in another command
        signum = getattr(interruption, "signum", signal.SIGINT)
        print(f"convt-oracle: interrupted ({signal.Signals(signum).name})", file=sys.stderr)
        return 128 + signum
    except Exception:  # noqa: BLE001 - a bug of ours: never 1, the status of a new finding
        traceback.print_exc()
        print(f"convt-oracle: internal error (exit status {EXIT_INTERNAL}); please report it with the traceback above",
              file=sys.stderr)
        return EXIT_INTERNAL


def _add_report_options(command) -> None:
    """--junit, --markdown, --html (convt_oracle.harness.ci_reports), for `run` and `gate`."""
    command.add_argument("--junit", metavar="PATH", help="write JUnit XML: a testsuite per target, a testcase per "
                         "case, dtype and check")
    command.add_argument("--markdown", metavar="PATH", help="write a Markdown summary under 1 MiB (for "
                         "$GITHUB_STEP_SUMMARY)")
    command.add_argument("--html", metavar="PATH", help="write one self-contained HTML file with a heatmap per "
                         "discrepancy (needs the 'report' extra)")


def _add_gate_command(commands) -> None:
    from convt_oracle.harness import gate

    gating = commands.add_parser(
        "gate", help="compare a candidate run report with a baseline: exit 1 on a regression",
        description="Compare the run report CANDIDATE with BASELINE, result by result (README, 'Gate'). Categories: "
                    + ", ".join(gate.CATEGORIES) + ".",
    )
    gating.add_argument("baseline", metavar="BASELINE", help="a run report (run --json), or RUN.json::TARGET")
    gating.add_argument("candidate", metavar="CANDIDATE", help="a run report, or RUN.json::TARGET")
    gating.add_argument("--known", metavar="FILE", help="re-apply this known-findings file to the candidate")
    gating.add_argument("--fail-on", metavar="CATEGORIES",
                        help=f"comma-separated categories that fail the gate (default: {','.join(gate.DEFAULT_FAIL_ON)})")
    gating.add_argument("--json", metavar="PATH", help="write the diff: counts, changes, both environments")
    _add_report_options(gating)


def _add_explain_command(commands) -> None:
    from convt_oracle.harness.explain import DEFAULT_BUDGET, DEFAULT_TOTAL_BUDGET

    explaining = commands.add_parser(
        "explain", help="a run report's discrepancies in groups, what sets each apart, a minimal case for each",
        description="Group the discrepancies of a run report (run --json) by target, check, outcome and diagnosis, "
                    "name the case features that set each group apart from the target's other compared cases, and "
                    "shrink each group's smallest case to a minimal one with a standalone script (README, "
                    "'Explaining a run'). Exit 0 when it explained, discrepancies or not.",
    )
    explaining.add_argument("report", metavar="RUN.json", help="a run report (run --json, merge -o, Report.to_json)")
    explaining.add_argument("--target", metavar="T", help="only this target label of the run (default: every one)")
    explaining.add_argument("--no-shrink", action="store_true", help="group and name features only: start no worker")
    explaining.add_argument("--budget", type=float, default=DEFAULT_BUDGET, metavar="S",
                            help=f"seconds of shrinking per group (default {DEFAULT_BUDGET:g})")
    explaining.add_argument("--total-budget", type=float, default=DEFAULT_TOTAL_BUDGET, metavar="S",
                            help=f"seconds of shrinking in all, worker starts included (default {DEFAULT_TOTAL_BUDGET:g})")
    explaining.add_argument("--json", metavar="OUT", help="write the groups as JSON")
    explaining.add_argument("--markdown", metavar="OUT", help="write the groups as Markdown")


def _dispatch(parser, args) -> int:
    if args.command == "gate":
        from convt_oracle.harness.gate import gate_command

        return gate_command(args)
    if args.command == "run":
        return run_command(parser, args)
    if args.command == "env":
        return env_command(args)
    if args.command == "explain":
        return explain_command(parser, args)
    if args.command == "merge":
        return merge_command(args)
    if args.command == "adapters":
        from convt_oracle.harness.run import describe_adapters

        print(describe_adapters())
        return EXIT_OK
    if args.command == "selfcheck":
        if args.count < 1:
            parser.error(f"--count: got {args.count}; expected at least 1 configuration")
        return selfcheck(args.seed, args.count)
    if args.command == "cases":
        from convt_oracle.cases import suites

        if args.suite is not None and args.suite not in suites.SUITES:
            parser.error(f"--suite: unknown {args.suite!r}; known suites: {', '.join(sorted(suites.SUITES))}")
        return cases_command(args.suite, args.seed, args.pairs, _dtypes(parser, args.dtypes, "--dtypes"))
    parser.error(f"unknown command {args.command!r}")  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())

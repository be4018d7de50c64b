"""`paczero privacy`: calibrate the PAC-MI noise, convert privacy units, verify a ledger, audit releases."""

from __future__ import annotations

import argparse
import math

import numpy as np

from paczero.privacy import audit, conversions
from paczero.privacy.channel import binary_entropy, binary_gaussian_mi, sigma_for_mi
from paczero.privacy.ledger import verify_run


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "privacy",
        help="calibrate noise, convert MI/DP budgets, verify a run's privacy ledger, audit its releases",
        description="Privacy tools for PAC-MI runs. All MI values are in nats.",
    )
    actions = parser.add_subparsers(dest="privacy_command", metavar="ACTION")
    parser.set_defaults(func=lambda args: _print_help(parser))

    calibrate = actions.add_parser(
        "calibrate",
        help="print the noise scale sigma that releases a given MI",
        description="Print sigma such that I(S; S + sigma N) = budget for a sign S with P(S = +1) = q_plus.",
    )
    calibrate.add_argument("--q-plus", type=float, required=True, help="posterior probability that the sign is +1, in [0, 1]")
    calibrate.add_argument("--budget", type=float, required=True, help="MI budget of the release, in nats")
    calibrate.set_defaults(func=_run_calibrate)

    convert = actions.add_parser(
        "convert",
        help="convert between an MI budget, (epsilon, delta)-DP and a success-rate bound",
        description=(
            "Print the adversary success-rate bound and the matched MI (nats) and epsilon for one given value. "
            "The MI bound solves KL(Bern(p) || Bern(prior)) = MI; the DP bound is "
            "max((e^eps + delta) / (1 + e^eps), prior + (1 - prior) delta, 1 - prior + prior delta)."
        ),
    )
    input_value = convert.add_mutually_exclusive_group(required=True)
    input_value.add_argument("--mi", type=float, help="MI budget, in nats")
    input_value.add_argument("--epsilon", type=float, help="DP epsilon (dimensionless, natural-log scale)")
    input_value.add_argument("--bound", type=float, help="adversary success-rate bound, a probability in [0, 1]")
    convert.add_argument("--delta", type=float, default=0.0, help="DP delta, a probability in [0, 1) (default: 0)")
    convert.add_argument(
        "--prior",
        type=float,
        default=0.5,
        help="adversary's best prior success rate for the membership guess, in [0.5, 1) (default: 0.5)",
    )
    convert.set_defaults(func=_run_convert)

    verify = actions.add_parser(
        "verify",
        help="recompute a run's budgets, sigmas and spends from its diagnostics.jsonl",
        description=(
            "Check the privacy ledger of run folders (diagnostics.jsonl plus metrics.json or recipe.json). "
            "DP baseline runs have no PAC-MI ledger: their DP accounting fields are checked instead. "
            "Prints one OK, SKIPPED or FAILED line per run; exits 1 when any run failed, else 0."
        ),
    )
    verify.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="folder of one run, e.g. results/runs/CELL")
    verify.add_argument("--all", action="store_true", help="print every problem found, not only the first")
    verify.set_defaults(func=_run_verify)

    _register_audit(actions)


def _register_audit(actions: argparse._SubParsersAction) -> None:
    parser = actions.add_parser(
        "audit",
        help="attack a run's (or a synthetic stream's) releases with a Bayes-optimal membership adversary",
        description=(
            "Replay the real release mechanism with fresh secret subset indices on a fixed sign stream and report "
            "the membership-inference success rate of the Bayes-optimal adversary, with a confidence interval over "
            "replays, beside the MI bound. The stream comes from RUN_DIR (a finished pacmi or paczpl run, whose "
            "steps are recomputed) or from --synthetic. Exits 1 when a confidence interval lies above its bound."
        ),
    )
    parser.add_argument("run_dir", nargs="?", metavar="RUN_DIR", help="folder of a finished pacmi or paczpl run")
    parser.add_argument(
        "--synthetic", choices=("random", "worst-case"),
        help="audit a synthetic stream instead: random signs with --agreement, or one dissenting subset per release",
    )
    parser.add_argument("--replays", type=int, default=200, help="independent replays, each with a fresh secret index (default: 200)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the replays (default: 0)")
    parser.add_argument("--confidence", type=float, default=0.95, help="confidence level of the intervals (default: 0.95)")
    parser.add_argument("--budgets", type=float, nargs="*", default=[], help="extra pacmi budgets to audit, in nats")
    parser.add_argument("--workers", type=int, default=1, help="worker processes for the replays (default: 1)")
    parser.add_argument("--csv", help="write the results to this CSV file")
    parser.add_argument("--figure", help="draw success rates and bounds to this PNG or PDF file")

    synthetic = parser.add_argument_group("synthetic stream (with --synthetic)")
    synthetic.add_argument("--method", choices=("pacmi", "paczpl"), default="pacmi", help="mechanism (default: pacmi)")
    synthetic.add_argument("--budget", type=float, default=0.33, help="pacmi total MI budget, in nats (default: 0.33)")
    synthetic.add_argument("--steps", type=int, default=40, help="training steps T (default: 40)")
    synthetic.add_argument("--directions", type=int, default=1, help="directions K per step (default: 1)")
    synthetic.add_argument("--subsets", type=int, default=16, help="number of subsets M, even (default: 16)")
    synthetic.add_argument("--examples", type=int, default=64, help="training examples N (default: 64)")
    synthetic.add_argument(
        "--agreement", type=float, default=0.8,
        help="random stream: probability that a subset's sign equals the release's common sign (default: 0.8)",
    )
    synthetic.add_argument("--schedule", choices=("adaptive", "uniform"), default="adaptive", help="pacmi budget schedule")
    synthetic.add_argument("--stream-seed", type=int, default=0, help="seed of the synthetic stream and membership (default: 0)")
    parser.set_defaults(func=_run_audit)


def _print_help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _run_calibrate(args: argparse.Namespace) -> int:
    sigma = sigma_for_mi(args.q_plus, args.budget)
    entropy = binary_entropy(args.q_plus)
    achieved = binary_gaussian_mi(args.q_plus, sigma)
    print(
        f"sigma={sigma:.12g} q_plus={args.q_plus:.12g} budget_nats={args.budget:.12g} "
        f"mi_nats={achieved:.12g} entropy_nats={entropy:.12g}"
    )
    return 0


def _format_epsilon(epsilon: float) -> str:
    return "inf" if math.isinf(epsilon) else f"{epsilon:.6g}"


def _run_convert(args: argparse.Namespace) -> int:
    delta, prior = args.delta, args.prior
    if not 0.5 <= prior < 1.0:
        raise ValueError(
            f"--prior must be in [0.5, 1) to match MI with DP, got {prior!r}; for an example in k of M subsets "
            "use max(k, M - k) / M"
        )
    if args.mi is not None:
        bound = conversions.mi_to_success_bound(args.mi, prior)
        mi = args.mi
        epsilon = conversions.success_bound_to_epsilon(bound, delta, prior)
    elif args.epsilon is not None:
        bound = conversions.dp_to_success_bound(args.epsilon, delta, prior)
        epsilon = args.epsilon
        mi = conversions.success_bound_to_mi(bound, prior)
    else:
        bound = args.bound
        mi = conversions.success_bound_to_mi(bound, prior)
        epsilon = conversions.success_bound_to_epsilon(bound, delta, prior)
    print(
        f"bound={bound:.6f} ({100.0 * bound:.2f}%) mi_nats={mi:.6g} epsilon={_format_epsilon(epsilon)} "
        f"delta={delta:.3g} prior={prior:.6g}"
    )
    return 0


def _run_verify(args: argparse.Namespace) -> int:
    failed = 0
    for run_dir in args.run_dirs:
        result = verify_run(run_dir)
        print(result.summary_line())
        if args.all:
            for problem in result.problems[1:]:
                print(f"  {problem}")
        failed += not result.ok
    return 1 if failed else 0


def _run_audit(args: argparse.Namespace) -> int:
    if (args.run_dir is None) == (args.synthetic is None):
        raise ValueError("pass either RUN_DIR or --synthetic {random,worst-case}, not both and not neither")
    if args.replays < 2:
        raise ValueError(f"--replays must be >= 2 for a confidence interval, got {args.replays}")
    if args.run_dir is not None:
        # Imported here because rebuilding a run's signs needs torch and the model code.
        from paczero.audit_run import audit_run

        results, _ = audit_run(
            args.run_dir, replays=args.replays, seed=args.seed, budgets=args.budgets,
            confidence=args.confidence, workers=args.workers,
        )
    else:
        results = _audit_synthetic(args)

    for result in results:
        print(result.summary_line())
    if args.csv:
        audit.write_audit_csv(results, args.csv)
    if args.figure:
        from paczero.audit_run import plot_audit

        plot_audit(results, args.figure)
    return 0 if all(result.within_bound and result.index_within_bound for result in results) else 1


def _audit_synthetic(args: argparse.Namespace) -> list[audit.AuditResult]:
    from paczero.subsets import membership_matrix

    rng = np.random.default_rng(args.stream_seed)
    releases = args.steps * args.directions
    if args.synthetic == "random":
        signs = audit.synthetic_signs(releases, args.subsets, args.agreement, rng)
        source = f"synthetic random stream (agreement {args.agreement:g})"
    else:
        signs = audit.worst_case_signs(releases, args.subsets, rng)
        source = "synthetic worst-case stream (one dissenting subset)"
    members = membership_matrix(args.examples, args.subsets, rng)
    spec = audit.MechanismSpec(
        args.method, args.budget if args.method == "pacmi" else 0.0, args.steps, args.directions, args.schedule,
    )
    options = dict(replays=args.replays, seed=args.seed, confidence=args.confidence, source=source, workers=args.workers)
    results = [audit.run_audit(signs, members, spec, **options)]
    if args.method == "pacmi":
        extra = [budget for budget in args.budgets if budget != args.budget]
        results += audit.run_budget_sweep(signs, members, spec, extra, **options)
    return results

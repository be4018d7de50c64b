"""`paczero privacy`: calibrate the PAC-MI noise, convert privacy units, verify a run's ledger."""

from __future__ import annotations

import argparse
import math

from paczero.privacy import conversions
from paczero.privacy.channel import binary_entropy, binary_gaussian_mi, sigma_for_mi
from paczero.privacy.ledger import verify_run


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "privacy",
        help="calibrate noise, convert MI/DP budgets, verify a run's privacy ledger",
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
            "Check the privacy ledger of one run folder (diagnostics.jsonl plus metrics.json or recipe.json). "
            "Exits 0 and prints one OK line, or exits 1 naming the first offending step."
        ),
    )
    verify.add_argument("run_dir", metavar="RUN_DIR", help="folder of one run, e.g. results/runs/CELL")
    verify.add_argument("--all", action="store_true", help="print every problem found, not only the first")
    verify.set_defaults(func=_run_verify)


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
    result = verify_run(args.run_dir)
    print(result.summary_line())
    if args.all:
        for problem in result.problems[1:]:
            print(f"  {problem}")
    return 0 if result.ok else 1

"""Fuzz commons_v0: 100,000 steps of random, malformed and random-typed actions, its figures printed.

The same fuzzer as tests/test_env_fuzz.py (``envs/fuzz.py``), longer: the steps are split
evenly over its configs (the default fishery, no communication, universalization, the
greedy newcomer, a ring network, and the institutions: election, sanctions, both on a ring,
both with a newcomer standing as candidate), so each institution config gets 11,111 steps
by default; ``elections`` and ``fines`` count the institutions' election and sanction
events. Every step is checked: ``step`` never raises, nor does
resuming from a checkpoint; observations stay in the observation space; every value
that is not in the action space's own form, or out of range, is an ``invalid_action``
event; events are strict JSON and UTF-8. A broken promise stops it with the step named.

Run:
    python experiments/fuzz_env.py                  # 100,000 steps, seed 0
    python experiments/fuzz_env.py --steps 5000 --seed 3
"""

import argparse

from envs import fuzz


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100_000, help="Steps in all, split over the configs.")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    total = fuzz.Figures()
    print(f"{'config':<22}{'steps':>9}{'episodes':>10}{'months':>8}{'resumes':>9}{'values':>9}{'invalid':>9}"
          f"{'elections':>10}{'fines':>7}{'seconds':>9}")
    for i, (name, overrides) in enumerate(fuzz.CONFIGS.items()):
        figures = fuzz.fuzz(overrides, args.steps // len(fuzz.CONFIGS), seed=args.seed + i, name=name)
        total.add(figures)
        _row(name, figures)
    _row("all", total)
    print(f"every check held: {total.steps} steps, {total.invalid_actions} invalid actions recorded, "
          f"{total.seconds:.1f} s ({total.steps / total.seconds:.0f} steps/s)")


def _row(name: str, f: fuzz.Figures) -> None:
    print(f"{name:<22}{f.steps:>9}{f.episodes:>10}{f.months:>8}{f.resumes:>9}{f.values_sent:>9}{f.invalid_actions:>9}"
          f"{f.elections:>10}{f.fines:>7}{f.seconds:>9.1f}")


if __name__ == "__main__":
    main()

"""Twenty students watching one run must not slow it: a run's images/s with 20 read-only viewers, against the same
run with none, on one server in one run.

An owner (a light client, bench/light_client.py) opens the Train page, presses Start and follows the live panel;
in the watched rounds, N more light clients open the run's watch link and follow it too, as a room of laptops
would. Rounds alternate (none, watched, none, watched, ...) so the machine's drift falls on both sides.

    python bench/watch.py                     # 20 viewers, 2 rounds of each
    python bench/watch.py --viewers 5 --rounds 1 --query "n=2000&ep=1"   # a quick look
"""
from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine  # noqa: E402
from light_client import LightSession  # noqa: E402
from load import FINISHED_STATES, progress, warm_up  # noqa: E402
from scripts.serve_app import served_app  # noqa: E402

WATCH_ID = re.compile(r"[?&]watch=([\w-]+)")


def finished(session: LightSession) -> bool:
    found = progress(session)
    return bool(found and found.group(1) in FINISHED_STATES)


async def one_run(url: str, query: str, viewers: int, deadline: float) -> tuple[int, int]:
    """(the run's images/s as its page reports it at the end, how many viewers saw it finish)."""
    owner = LightSession(url, timeout=300)
    watchers: list[LightSession] = []
    try:
        await owner.open("train", query)
        await owner.click("train_start")
        found = [m for text in owner.texts() for m in WATCH_ID.findall(text)]
        if not found:
            raise RuntimeError("the Train page showed no watch link after Start")
        watchers = [LightSession(url, timeout=300) for _ in range(viewers)]
        await asyncio.gather(*(w.open("train", f"watch={found[0]}") for w in watchers))
        await asyncio.gather(owner.follow_live(deadline, until=finished),
                             *(w.follow_live(deadline, until=finished) for w in watchers))
        result = progress(owner)
        if not result or result.group(1) != "Done":
            raise RuntimeError(f"the run did not finish: {result and result.group(0)}")
        errors = owner.errors + [e for w in watchers for e in w.errors]
        if errors:
            raise RuntimeError("; ".join(errors[:3]))
        return int(result.group(4).replace(",", "")), sum(finished(w) for w in watchers)
    finally:
        await asyncio.gather(owner.close(), *(w.close() for w in watchers))


async def main_async(args: argparse.Namespace) -> None:
    with served_app() as served:
        await warm_up(served.url)
        alone, watched, seen = [], [], []
        for round_ in range(args.rounds):
            for viewers, into in ((0, alone), (args.viewers, watched)):
                speed, saw = await one_run(served.url, args.query, viewers, args.deadline)
                into.append(speed)
                if viewers:
                    seen.append(saw)
                print(f"  round {round_ + 1}: {viewers:2d} viewers  {speed:6d} images/s"
                      + (f"  ({saw} of {viewers} viewers saw it finish)" if viewers else ""), flush=True)
    ratio = statistics.median(watched) / statistics.median(alone)
    print(f"run alone: median {statistics.median(alone):.0f} images/s; with {args.viewers} viewers: median "
          f"{statistics.median(watched):.0f} images/s; ratio {ratio:.2f} (goal: no slowdown, >= 0.95)")
    if min(seen) < args.viewers:
        print(f"warning: only {min(seen)} of {args.viewers} viewers saw a run finish")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--viewers", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2, help="runs of each side, alternating")
    parser.add_argument("--query", default="n=10000&ep=1", help="the Train page's settings for each run")
    parser.add_argument("--deadline", type=float, default=600, help="seconds a run may take")
    args = parser.parse_args()
    print(f"Watch links · {machine()}")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()

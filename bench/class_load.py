"""A class under load: a lecturer and N light students (bench/light_client.py) in one class, on one server or on two
replicas sharing Redis. The lecturer pushes a question with choices; every student's banner polls until it shows
it; all answer within a second of each other; the lecturer's polled count must reach exactly N with bars that
match what was sent. Everything runs on loopback.

    python bench/class_load.py                         # 60 students, one app process (the embedded store)
    python bench/class_load.py --students 120 --redis  # 120 across two replicas on a real redis-server

Reports, per client, the p50/p95 from the push to the banner showing the question and from each answer to the
lecturer's count including it, each also as a ratio to the p95 of a plain page rerun (the Class page's join form
taking a name, measured by one more light session during the same run), and whether the count was exact.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, machine  # noqa: E402
from light_client import ClientError, LightSession  # noqa: E402
from scripts.serve_app import served_app  # noqa: E402
from scripts.shared_mode import redis_server  # noqa: E402

CHOICES = ("2", "3", "4", "5")
PROMPT = "Predict the output size: a 7x7 input, a 3x3 kernel, stride 2, no padding."
STUDENT_POLL_SECONDS = 2.0  # cnnviz.ui.class_banner's poll: the phase each tab's timer starts at is drawn from it
DEADLINE_S = 120.0  # any one wait; a class that misses it has failed, whatever the figures


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def answered(session: LightSession) -> tuple[int, int] | None:
    """The lecturer's live count, as (answered, students), or None before a question."""
    for markup in session.htmls():
        found = re.search(r'data-answered="(\d+)" data-students="(\d+)"', markup)
        if found:
            return int(found.group(1)), int(found.group(2))
    return None


def bars(session: LightSession) -> dict[str, int]:
    """The lecturer's bars: answer -> students."""
    return {answer: int(count) for markup in session.htmls()
            for answer, count in re.findall(r'data-answer="([^"]*)">.*?data-count="(\d+)"', markup)}


def question_shown(session: LightSession) -> bool:
    """The banner shows the pushed question: its choices are there to press."""
    try:
        session.widget("class_choice_0")
    except ClientError:
        return False
    return True


async def plain_reruns(url: str, stop: asyncio.Event, seconds: list[float]) -> None:
    """The reference: a plain rerun of a page (the join form taking a name), again and again while the class runs."""
    session = LightSession(url, timeout=DEADLINE_S)
    await session.open("class")
    count = 0
    while not stop.is_set():
        count += 1
        change = await session.set("class_name_input", f"reference {count}")
        seconds.append(change.script_seconds)
        await asyncio.sleep(0.5)
    await session.close()


async def run_class(urls: list[str], students: int, seed: int = 0) -> dict:
    rng = random.Random(seed)
    lecturer = LightSession(urls[0], timeout=DEADLINE_S)
    await lecturer.open("class")
    await lecturer.click("class_open")
    code = next(re.fullmatch(r"\s*([A-Z]{6})\s*", text).group(1) for text in lecturer.texts("class_code")
                if re.fullmatch(r"\s*[A-Z]{6}\s*", text))

    tabs = [LightSession(urls[index % len(urls)], timeout=DEADLINE_S) for index in range(students)]

    async def join(index: int, tab: LightSession) -> None:
        await tab.open("class", f"code={code}")
        await tab.set("class_name_input", f"student {index}")
        await tab.click("class_join_button")

    await asyncio.gather(*(join(i, tab) for i, tab in enumerate(tabs)))
    reference: list[float] = []
    stop = asyncio.Event()
    rerunner = asyncio.create_task(plain_reruns(urls[-1], stop, reference))

    # Each open tab polls on its own timer, begun at its own moment, as browsers opened one by one do.
    seen_at: dict[int, float] = {}

    async def watch(index: int, tab: LightSession) -> None:
        await asyncio.sleep(rng.uniform(0, STUDENT_POLL_SECONDS))

        def shown(session: LightSession) -> bool:
            if question_shown(session):
                seen_at.setdefault(index, time.monotonic())
                return True
            return False

        await tab.follow_live(DEADLINE_S, until=shown)

    watchers = [asyncio.create_task(watch(i, tab)) for i, tab in enumerate(tabs)]
    await asyncio.sleep(STUDENT_POLL_SECONDS + 0.5)  # every tab's timer is running
    await lecturer.set("class_prompt", PROMPT)
    await lecturer.set("class_choices_text", "\n".join(CHOICES))
    pushed = time.monotonic()
    await lecturer.click("class_push_button")
    await asyncio.gather(*watchers)

    async def answer(tab: LightSession) -> tuple[str, float]:
        await asyncio.sleep(rng.uniform(0, 1))  # everyone answers within a second
        choice = rng.choice(CHOICES)
        await tab.click(f"class_choice_{CHOICES.index(choice)}")
        return choice, time.monotonic()

    # The lecturer's view polls (its fragment timer) while the students answer: every count it showed, and when.
    shown: list[tuple[float, int]] = []

    def note(session: LightSession) -> bool:
        count = answered(session)
        if count is not None:
            shown.append((time.monotonic(), count[0]))
        return count is not None and count[0] >= students

    watching = asyncio.create_task(lecturer.follow_live(DEADLINE_S * 2, until=note))
    results = await asyncio.gather(*(answer(tab) for tab in tabs))
    await watching
    stop.set()
    await rerunner

    sent = {}
    for choice, _ in results:
        sent[choice] = sent.get(choice, 0) + 1
    final = answered(lecturer)
    drawn = bars(lecturer)
    answer_times = sorted(at for _, at in results)
    lags = []
    for rank, at in enumerate(answer_times, start=1):
        first = next((when for when, count in shown if count >= rank), None)
        lags.append(max(0.0, first - at) if first is not None else float("inf"))  # never shown: the run failed
    errors = [error for tab in [lecturer, *tabs] for error in tab.errors]
    for tab in [lecturer, *tabs]:
        await tab.close()
    return {"students": students, "replicas": len(urls), "push_to_seen": [seen_at.get(i, float("inf")) - pushed for i in range(students)],
            "answer_to_count": lags, "reference": reference, "final": final, "sent": sent, "bars": drawn,
            "errors": errors}


def report(result: dict) -> None:
    reference_p95 = percentile(result["reference"], 95)
    print(f"{result['students']} students, {result['replicas']} replica(s); {machine()}")
    print(f"plain page rerun: p50 {percentile(result['reference'], 50) * 1000:.0f} ms, "
          f"p95 {reference_p95 * 1000:.0f} ms over {len(result['reference'])} reruns")
    for name in ("push_to_seen", "answer_to_count"):
        values = result[name]
        p50, p95 = percentile(values, 50), percentile(values, 95)
        print(f"{name}: p50 {p50:.2f} s, p95 {p95:.2f} s = {p95 / reference_p95:.0f}x the plain rerun's p95")
    exact = result["final"] == (result["students"], result["students"])
    same_bars = result["bars"] == result["sent"]
    print(f"lecturer's count {result['final']}, exact: {exact}; bars match the answers sent: {same_bars} "
          f"({dict(sorted(result['bars'].items()))})")
    print(f"errors: {result['errors'] or 'none'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=60)
    parser.add_argument("--redis", action="store_true", help="two replicas sharing a real redis-server")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        env = {"CNNVIZ_REDIS_URL": stack.enter_context(redis_server())} if args.redis else {}
        urls = [stack.enter_context(served_app(env=env, timeout=180)).url for _ in range(2 if args.redis else 1)]
        report(asyncio.run(run_class(urls, args.students)))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()

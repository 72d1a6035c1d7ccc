"""A training run's live status as HTML: the progress bar, its line and the four live numbers.

The Train page draws it while a run trains, and the status route (cnnviz.ui.live_status) sends it to a browser
polling it; what it shows comes from cnnviz.training.status, in the language given.
"""
from __future__ import annotations

from html import escape

from cnnviz.i18n import t
from cnnviz.training.job import FINISHED, JobSnapshot
from cnnviz.training.status import live_numbers, progress_text, queue_text
from cnnviz.ui.progress import progress_html

# The bar and the numbers are one element: four st.metric in columns cost the watching browser several times the
# work. 1.75rem values fit four to a row in the column a 1280x720 screen gives them; on a phone (where Streamlit
# stacks the columns, below 640 px) they sit two by two.
NUMBERS_CSS = """<style>
.train-numbers { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 0.25rem 1rem;
                 margin: 0.25rem 0 0.5rem; }
@media (max-width: 640px) { .train-numbers { grid-template-columns: repeat(2, minmax(0, 1fr)); } }
.train-numbers > div { display: flex; flex-direction: column; min-width: 0; }
.train-numbers span { font-size: 0.875rem; opacity: 0.8; }
.train-numbers span[title] { text-decoration: underline dotted; cursor: help; }
.train-numbers b { font-size: 1.75rem; font-weight: 400; line-height: 1.25; font-variant-numeric: tabular-nums; }
</style>"""


def numbers_html(snap: JobSnapshot, lang: str) -> str:
    """The smoothed train loss and accuracy, the latest test accuracy and the learning rate, as one HTML grid."""
    cells = "".join(f"<div><span{_title(help_key, lang)}>{escape(t(label, lang))}</span><b>{escape(value)}</b></div>"
                    for label, value, help_key in live_numbers(snap))
    return f'{NUMBERS_CSS}<div class="train-numbers">{cells}</div>'


def status_html(snap: JobSnapshot, lang: str, *, accent: str) -> str:
    """The bar (at the run's progress, or empty while its data loads) and the numbers; while the run waits in the
    queue, the numbers alone, after its place in line in shared mode."""
    numbers = numbers_html(snap, lang)
    if snap.latest is not None:
        fraction = snap.latest.step / max(snap.latest.total_steps, 1)
        return progress_html(fraction, progress_text(snap, lang), accent=accent) + numbers
    if snap.state in FINISHED:  # ended before its first step (stopped at once, or failed while starting)
        return progress_html(0.0, t(f"train.state.{snap.state}", lang), accent=accent) + numbers
    if snap.state != "queued":
        return progress_html(0.0, t("train.loading", lang), accent=accent) + numbers
    if snap.queue is not None:  # shared mode: the place moves up while the page polls
        return f'<p class="train-queue">{_with_code(queue_text(snap.queue, lang))}</p>' + numbers
    return numbers


def _with_code(text: str) -> str:
    """``text`` escaped, its `backticked` parts (a command to run) as <code>, as Markdown would show them."""
    parts = escape(text).split("`")
    return "".join(f"<code>{part}</code>" if index % 2 else part for index, part in enumerate(parts))


def _title(help_key: str, lang: str) -> str:
    return f' title="{escape(t(help_key, lang))}"' if help_key else ""

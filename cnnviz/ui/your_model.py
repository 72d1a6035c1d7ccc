"""The model the Your network page opens, for every page that reads it: the demos (read once for every session),
this session's upload, and the layer table drawn beside the graph's lanes, whose rows a click picks.

Not a page: the Your network and Receptive fields pages draw with it.
"""
from __future__ import annotations

from html import escape
from typing import Iterable

from cnnviz.analysis.layer_table import count_text, millions_text, shape_text
from cnnviz.figures.graph import ROW_HEIGHT, lane_layout, lanes_svg
from cnnviz.graph.analysis import INPUT, GraphRow, GraphTable
from cnnviz.pages.your_network import DEMOS, FORMATS, NetworkFacts, describe, open_demo
from cnnviz.ui import state as page_state
from cnnviz.ui.clickable import clickable_html
from cnnviz.ui.common import tr
from cnnviz.ui.housekeeping import shared_results


@shared_results(len(DEMOS) * len(FORMATS))
def demo_facts(name: str, fmt: str) -> NetworkFacts:
    """A demo's facts, read once and shared by every session."""
    return describe(open_demo(name, fmt))


def remember_upload(key: str, facts: NetworkFacts) -> None:
    """The model this session uploaded on the Your network page, for the other pages (the upload widget's file is
    gone once the page is left)."""
    page_state.YOURS_UPLOADED.set((key, facts))


def uploaded() -> tuple[str, NetworkFacts] | None:
    """(a key naming it, its facts) of the model this session uploaded, if any."""
    return page_state.YOURS_UPLOADED.get()


# --- the layer table with the graph's lanes -----------------------------------------------------------------

_TABLE_CSS = f"""<style>
.yours-graph {{ display: flex; align-items: flex-start; overflow-x: auto; font-size: 0.85rem; }}
.yours-graph svg {{ flex: none; margin-top: {ROW_HEIGHT}px; }}
.yours-graph table {{ border-collapse: collapse; white-space: nowrap; }}
.yours-graph th, .yours-graph td {{ height: {ROW_HEIGHT}px; padding: 0 0.45rem; box-sizing: border-box;
  border-bottom: 1px solid rgba(128, 128, 128, 0.25); text-align: left; }}
.yours-graph td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
.yours-graph tr.chosen td {{ background: rgba(234, 88, 12, 0.12); }}
.yours-graph tr[data-layer] {{ cursor: pointer; }}
.yours-graph tr[data-layer]:hover td {{ background: rgba(234, 88, 12, 0.06); }}
.yours-graph .op {{ opacity: 0.7; font-size: 0.8em; }}
.yours-graph .warn {{ color: #c2410c; }}
</style>"""


def _pair_text(pair: tuple[int, int] | None) -> str:
    if pair is None:
        return "–"
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]} × {pair[1]}"


def _row_cells(row: GraphRow) -> str:
    flags = ""
    if row.misaligned:
        flags += f' <span class="warn" title="{escape(tr("yours.misaligned"))}">⚠</span>'
    if not row.supported:
        flags += f' <span class="warn" title="{escape(tr("yours.unsupported", op=row.target))}">?</span>'
    name = f'{escape(row.name)} <span class="op">{escape(row.op)}</span>{flags}'
    field = escape(tr("yours.varies")) if row.varies else _pair_text(row.rf_size)  # after an upsampling: per unit
    numbers = [count_text(row.params) if row.params else "", millions_text(row.macs) if row.macs else "",
               field, _pair_text(row.jump), _pair_text(row.start)]
    return (f"<td>{name}</td><td>{escape(shape_text(row.output_shape))}</td>"
            + "".join(f'<td class="num">{n}</td>' for n in numbers))


def graph_html(table: GraphTable, pickable: Iterable[str], chosen: str) -> str:
    """The layer table with the graph's lanes beside it, one row a layer (the image first); the ``pickable`` rows
    carry their name for a click, and the ``chosen`` one is marked."""
    rows = table.rows
    index = {INPUT: 0, **{row.name: i + 1 for i, row in enumerate(rows)}}
    layout = lane_layout([[]] + [[index[name] for name in row.inputs if name in index] for row in rows])
    svg = lanes_svg(layout, chosen=index.get(chosen), label=tr("yours.graph_label", count=len(rows)))
    heads = ("yours.col.layer", "yours.col.output", "yours.col.params", "yours.col.macs", "yours.col.rf",
             "yours.col.jump", "yours.col.start")
    head = "".join(f"<th>{escape(tr(key))}</th>" for key in heads)
    first = (f"<tr><td>{escape(INPUT)}</td><td>{escape(shape_text(table.input_shape))}</td>"
             f'<td></td><td></td><td class="num">1</td><td class="num">1</td><td class="num">0</td></tr>')
    pickable = set(pickable)

    def opening(row: GraphRow) -> str:
        chosen_class = ' class="chosen"' if row.name == chosen else ""
        layer = f' data-layer="{escape(row.name)}"' if row.name in pickable else ""
        return f"<tr{chosen_class}{layer}>"

    body = "".join(f"{opening(row)}{_row_cells(row)}</tr>" for row in rows)
    return (f'{_TABLE_CSS}<div class="yours-graph">{svg}<table><thead><tr>{head}</tr></thead>'
            f"<tbody>{first}{body}</tbody></table></div>")


def graph_table(key: str, table: GraphTable, pickable: Iterable[str], chosen: str) -> None:
    """The table with its lanes; a click on a pickable row reaches the next run as ``new_click(key)``'s layer."""
    clickable_html(key, graph_html(table, pickable, chosen), "tr[data-layer]")

"""Your network in Chromium: every demo model in both formats, then a residual block's unit, its field and its maps."""
import pytest
from playwright.sync_api import expect

from browser_kit import assert_no_exception, open_page, query, wait_for_main_text, wait_idle
from cnnviz.pages.your_network import describe, open_demo

TABLE = ".st-key-yours_table_click"  # the layer table with its lanes (a component in the page's DOM)
LARGE = ".st-key-yours_unit_click img"  # the large map: a click picks a unit


@pytest.mark.parametrize("name", ["default", "resnet", "inception"])
def test_each_demo_opens_in_both_formats(page, app_url, name):
    for fmt, source in (("pt2", "(torch.export)"), ("onnx", "(ONNX)")):
        open_page(page, app_url, f"your-network?m={name}&fmt={fmt}")
        assert_no_exception(page)
        wait_for_main_text(page, f"{name} {source} takes one 1 × 28 × 28 image")
        wait_for_main_text(page, "It says 7")  # MNIST's first test digit
        rows = len(describe(open_demo(name, fmt)).table.rows) + 1  # and the image's
        # Components draw after the script run: wait for them, a dot in the lanes for every row of the table.
        expect(page.locator(f"{TABLE} tbody tr")).to_have_count(rows)
        expect(page.locator(f"{TABLE} svg circle")).to_have_count(rows)
        expect(page.locator(LARGE)).to_have_count(1)


def test_a_unit_of_a_residual_block_shows_its_field_and_its_maps(page, app_url):
    open_page(page, app_url, "your-network?m=resnet")
    page.locator(f"{TABLE} tr[data-layer='block1.add']").click()  # a row of the table picks its layer
    wait_idle(page)
    wait_for_main_text(page, "Feature maps of block1.add")
    assert query(page)["ly"] == "block1.add"
    assert page.locator(f"{TABLE} tr.chosen").inner_text().startswith("block1.add")
    # Both paths meet at the add: a line for every input of every row, one more than a chain would have.
    table = describe(open_demo("resnet", "pt2")).table
    expect(page.locator(f"{TABLE} svg path")).to_have_count(sum(len(row.inputs) for row in table.rows))
    large = page.locator(LARGE)
    box = large.bounding_box()
    side = box["width"] / 14  # 14 x 14 units, shown square
    large.click(position={"x": 4.5 * side, "y": 3.5 * side})  # unit (3, 4)
    wait_idle(page)
    # block1: two 3x3 convs after the stem's 3x3 conv and 2x2 pool: field 12, jump 2, start -5 (union with the
    # shortcut's 4 from -1): unit (3, 4) sees rows 1..12 and columns 3..14.
    wait_for_main_text(page, "Unit (3, 4) of block1.add sees 12 × 12 input pixels, from row 1 and column 3.")
    assert query(page)["u"] == "3,4"
    assert_no_exception(page)

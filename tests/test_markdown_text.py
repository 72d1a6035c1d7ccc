"""Text from users (a link's values, file names, typed cells, the values an error quotes) never becomes markdown."""
import pytest

from apptest_kit import run_page
from cnnviz.errors import UserError
from cnnviz.markdown_text import md_text
from cnnviz.ui.common import tr_error
LINK = "[Log in again](https://evil.example/)"
IMAGE = "![b](http://127.0.0.1:9/beacon.png)"


@pytest.mark.parametrize("text, inert", [
    (LINK, "\\[Log in again\\]\\(https\\:\u2060//evil.example/\\)"),
    (IMAGE, "\\!\\[b\\]\\(http\\:\u2060//127.0.0.1\\:9/beacon.png\\)"),
    ("<b>x</b> a@b.cn WWW.evil.example", "\\<b\\>x\\</b\\> a\\@\u2060b.cn WWW\u2060.evil.example"),
    ("$x^2$ *b* _i_ `c` # h | t ~s~ & :red[x]", r"\$x^2\$ \*b\* \_i\_ \`c\` \# h \| t \~s\~ \& \:red\[x\]"),
    ("a\\b", r"a\\b"),
    ("two\nlines", "two lines"),
    ("model-3.pt 卷积", "model-3.pt 卷积"),
])
def test_md_text_escapes_what_markdown_would_act_on(text, inert):
    assert md_text(text) == inert


def test_an_errors_values_are_escaped_and_its_own_wording_is_not():
    error = UserError("error.checkpoint.not_torch", kind=IMAGE)
    shown = tr_error(error)
    assert "`python -m cnnviz.train --save model.pt`" in shown  # the catalog's code span stays code
    assert shown.endswith(f"({md_text(IMAGE)})")
    # A checkpoint's config error quotes the checkpoint's own text, inside a translatable reason.
    nested = UserError("error.checkpoint.bad_config", reason=UserError("error.numfmt.cell", row=1, col=2, reason=LINK))
    assert tr_error(nested) == f"The checkpoint's model config is invalid: row 1, column 2: {md_text(LINK)}"
    assert tr_error(ValueError(LINK)) == md_text(LINK)


@pytest.mark.parametrize("value", [LINK, IMAGE])
def test_a_links_bad_value_shows_as_text_in_the_apps_warning(value):
    app = run_page("lessons", query={"l": value})
    warnings = [w.proto.body for w in app.warning]
    assert warnings == [f"This link had settings that could not be used, so their defaults are shown: "
                        f"l={md_text(value)}."]


@pytest.mark.slow
def test_an_uploaded_checkpoints_file_name_is_shown_as_text():
    from cnnviz.model import NETWORK_PRESETS, build_model
    from cnnviz.training.checkpoints import save_checkpoint
    from cnnviz.training.config import TrainConfig

    data = save_checkpoint(build_model(NETWORK_PRESETS["tiny"]), NETWORK_PRESETS["tiny"], TrainConfig())
    app = run_page("train")
    name = "![b](http://127.0.0.1:9/beacon.png).pt"
    app.file_uploader(key="train_ckpt").upload(name, data, "application/octet-stream").run()
    assert not app.exception
    loaded = [s.proto.body for s in app.success]
    assert len(loaded) == 1 and loaded[0].startswith(f"Checkpoint {md_text(name)} loaded: ")
